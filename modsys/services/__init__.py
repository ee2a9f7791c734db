"""The application's API: one module per verb family. Every public function
takes a Session and the acting Actor, checks permission and policy, and writes
the change, its audit event and its notifications in one transaction."""
