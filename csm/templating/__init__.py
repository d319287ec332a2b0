"""Email templates: sandboxed, strict Jinja over Markdown with front matter, and its filters."""
