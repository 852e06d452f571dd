"""Model bundles shipped inside the package (package data, found with importlib.resources).

`mcnn_socket16/` is the MCNN-TG bundle for the 16-sensor socket, rebuilt by
`bench/mcnn_train.py`; `--decoder mcnn:default` names it (bridge/decoders/shipped.py).
"""
