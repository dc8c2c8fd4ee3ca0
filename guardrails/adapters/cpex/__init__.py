"""The cpex host: plugins in a manager, the YAML plugin kind, `serve`, config checks.

`groups` (the (mode, priority) shape of a ruleset) -> `plugin` (what a guardrails
plugin does on a hook call) -> `binding` (a policy's group plugins) -> `manager`
(registering them, following reloads); `yaml_plugin` is the config entry kind.
Importing this package imports nothing of cpex; its modules do.
"""
