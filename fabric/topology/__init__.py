"""fabric/topology"""
