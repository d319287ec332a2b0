"""The playbook language: conditions (parser, compiler), fields, strict YAML, playbook models."""
