"""imcpnn.extract"""
