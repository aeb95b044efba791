"""imcpnn.pdk"""
