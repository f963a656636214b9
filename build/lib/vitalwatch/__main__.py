import sys

from vitalwatch.cli import main

sys.exit(main())
