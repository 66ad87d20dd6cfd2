"""Shop admins' operations in the chat: a new policy version (`/policy`, and back with
`/policy_rollback`), how the assistant is doing (`/stats`) and what the policy lacks
(`/unanswered`), example questions the policy does answer (`/teach`); and telling the
customers who asked (`/notify`) when a policy changed."""
