"""imcpnn.train"""
