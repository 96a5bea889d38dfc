from dumper.cli import main

raise SystemExit(main())
