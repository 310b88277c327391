from codegen_hook.cli import main

raise SystemExit(main())
