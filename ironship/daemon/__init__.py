"""``ironship daemon``: a process that stays up between commands, started and stopped
explicitly, so a plan on a monorepo costs what the change costs (README "The daemon";
docs/architecture.md, "The daemon")."""
