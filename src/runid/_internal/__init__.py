"""Private helpers of the core and the shell: strict JSON, ES6 numbers, schema nodes, files.

Nothing here is an API; the public modules re-export what callers need.
"""
