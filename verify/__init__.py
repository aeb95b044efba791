"""imcpnn.verify"""
