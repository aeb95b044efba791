"""imcpnn.spice"""
