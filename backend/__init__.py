"""The system of record: customer profiles and the conversation log so far; privacy
requests, the REST API for shop backends and the webhook outbox follow (issue 4).

Handlers call the service layer (`backend.customers`, `backend.conversation_log`) as
Python, each call inside one `Database.session()` unit of work.
"""
