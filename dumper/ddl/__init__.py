"""Pure functions from catalog objects to SQL text. Nothing here talks to a database."""
