"""fabric/collectives"""
