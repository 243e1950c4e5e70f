"""What the GitHub workflows need: sticky plan comments, drift issues, failure reports."""
