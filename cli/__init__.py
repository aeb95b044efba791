"""imcpnn.cli"""
