"""Read models that leave modsys: the public transparency numbers and the EU DSA
statements of reasons. Both are scoped to one community and hold no personal data."""
