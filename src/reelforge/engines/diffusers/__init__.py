"""The diffusers engine: real video models (Wan 2.x, LTX-Video) from local diffusers folders.

Only `options` is imported by the catalog (it is pure Python); `engine` pulls in torch and
diffusers, so it is imported only when a catalog model uses `engine = "diffusers"`.
"""
