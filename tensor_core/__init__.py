"""tensor_core"""
