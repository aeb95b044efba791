"""imcpnn.netlists"""
