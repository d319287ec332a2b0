"""The engine: which accounts match which step (SQL), and the drafts and tasks that follow."""
