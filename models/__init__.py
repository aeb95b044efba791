"""imcpnn.models"""
