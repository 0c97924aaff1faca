import sys

from sheetflow.worker.cli import main

if __name__ == "__main__":
    sys.exit(main())
