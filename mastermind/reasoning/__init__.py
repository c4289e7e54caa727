"""The Socratic reasoning engine: controlled English and propositional logic, decided by SAT."""
