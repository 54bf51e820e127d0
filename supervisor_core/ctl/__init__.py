"""The parts of ``superctl``, supervisorctl's drop-in replacement.

``options`` reads the command line and the ``[supervisorctl]`` section, ``transport``
speaks XML-RPC and log-tail HTTP over ``unix://`` and ``http://``, ``api`` is the typed
face of the remote ``supervisor.*`` namespace, ``render`` turns results into
supervisorctl's exact text, ``commands`` runs one command line and computes the exit
status (its ``Controller`` joins ``controller``'s plumbing with the actions of
``process_commands``, ``log_commands``, ``config_commands`` and ``daemon_commands``),
and ``shell`` is the interactive prompt.
"""
