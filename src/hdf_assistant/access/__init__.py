"""Who may read what: collections with owners and audiences (``HDF_ACCESS``), the filters a request
adds, and the audit log of questions. The result is a :class:`~hdf_assistant.index.scope.Scope` that
the index applies inside its queries."""

from hdf_assistant.access.audit import AuditLog
from hdf_assistant.access.guard import Guard, policy_for
from hdf_assistant.access.policy import AccessPolicy, FilterError, Filters, load_policy

__all__ = ["AccessPolicy", "AuditLog", "FilterError", "Filters", "Guard", "load_policy", "policy_for"]
