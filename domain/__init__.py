"""The touchpoint domain: the Customer aggregate, its values and the application that stores it."""

import os

if os.environ.get("TOUCHLOG_FAULTS"):  # the crash tests' fault injection, storage/faults.py
    from touchlog.domain.storage import faults

    faults.install_from_environment()
