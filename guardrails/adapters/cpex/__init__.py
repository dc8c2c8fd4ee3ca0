"""The cpex host: plugins in a manager, the YAML plugin kind, `serve`, config checks.

Importing this package imports nothing of cpex; its modules do.
"""
