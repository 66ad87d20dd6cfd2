"""What the bot says about the practices of a policy: their titles on the policy-at-a-glance
card, and what it says when a shop's policy is silent on the practice a customer asks about.

One sentence per practice of indexer/data/taxonomy.toml ("KIVI's policy does not say how
long it keeps your data"), per right a policy speaking of rights may leave out
(indexer/named_rights.py) and per detail a policy may leave out while covering its practice
(indexer/data/details.toml), and, where the law settles the matter whatever the policy
says, one sentence on what the customer has anyway. Practices, rights and details have
distinct names, so one function serves them all. Functions, not constants: gettext must
run in the customer's locale at the time of the reply.
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

# A right or detail whose silence is said as a practice's: "does not say how long it keeps
# your data" is as true of a policy that keeps data "for the order" without a period.
SAID_AS = {
    "ai_training": "automated_decisions",
    "retention_period": "retention",
    "dpo_named": "dpo",
    "change_notice": "changes",
}
# ... and those whose law note is another's.
NOTED_AS = {
    **SAID_AS,
    "unsubscribe": "marketing",
    "card_details": "collection",
    "cookie_duration": "cookie_control",
    "cookie_consent": "cookie_control",
    "credit_check": "automated_decisions",
    "sms_marketing": "marketing",
}


def silent_sentence(topic: str, shop: str) -> str:
    """The policy says nothing of the practice, right or detail."""
    texts = {
        "identity": _("{shop}'s policy does not say which company is responsible for your data."),
        "collection": _("{shop}'s policy does not say what data it collects about you."),
        "purposes": _("{shop}'s policy does not say what it uses your data for."),
        "legal_basis": _("{shop}'s policy does not say on what legal ground it uses your data."),
        "sharing": _("{shop}'s policy does not say who else receives your data."),
        "transfers": _(
            "{shop}'s policy does not say whether your data leaves the EU or where it is stored."
        ),
        "retention": _("{shop}'s policy does not say how long it keeps your data."),
        "security": _("{shop}'s policy does not say how it protects your data."),
        "cookies": _("{shop}'s policy does not say anything about cookies or tracking."),
        "marketing": _("{shop}'s policy does not say anything about marketing messages."),
        "rights": _("{shop}'s policy does not describe your rights over your data."),
        "minors": _("{shop}'s policy does not say anything about children's data."),
        "contact": _("{shop}'s policy does not give a contact for privacy questions."),
        "dpo": _("{shop}'s policy does not name a data protection officer."),
        "complaints": _("{shop}'s policy does not say where you can complain about it."),
        "changes": _("{shop}'s policy does not say how it tells you about changes to it."),
        "automated_decisions": _(
            "{shop}'s policy does not say whether it makes automated decisions about you, "
            "profiles you or uses your data for AI."
        ),
        # The rights (named_rights.py) ...
        "access": _("{shop}'s policy does not say how you can get a copy of your data."),
        "correction": _("{shop}'s policy does not say how you can have your data corrected."),
        "deletion": _("{shop}'s policy does not say how you can have your data deleted."),
        "unsubscribe": _("{shop}'s policy does not say how you can stop its marketing messages."),
        # ... and the details (named_details.py).
        "breach_notice": _(
            "{shop}'s policy does not say whether it tells you about a breach of your data."
        ),
        "policy_date": _("{shop}'s policy does not say when it was last updated."),
        "cookie_control": _(
            "{shop}'s policy does not say how you can refuse or remove its cookies."
        ),
        "card_details": _(
            "{shop}'s policy does not say whether it stores your payment card details."
        ),
        "cookie_duration": _(
            "{shop}'s policy does not say how long its cookies stay on your device."
        ),
        "cookie_consent": _(
            "{shop}'s policy does not say whether it asks for your consent before setting cookies."
        ),
        "do_not_track": _(
            "{shop}'s policy does not say whether it honours your browser's Do Not Track signal."
        ),
        "business_transfer": _(
            "{shop}'s policy does not say what happens to your data if the company is sold, "
            "merged or closed."
        ),
        "call_recording": _(
            "{shop}'s policy does not say whether it records calls or chats with you."
        ),
        "biometrics": _(
            "{shop}'s policy does not say anything about biometric data such as your face or "
            "fingerprints."
        ),
        "location": _("{shop}'s policy does not say whether it uses your location."),
        "credit_check": _("{shop}'s policy does not say whether it checks your creditworthiness."),
        "two_factor": _(
            "{shop}'s policy does not say whether you can protect your account with two-factor "
            "sign-in."
        ),
        "password_storage": _("{shop}'s policy does not say how it stores your password."),
        "storage_encryption": _(
            "{shop}'s policy does not say whether the data it stores is encrypted."
        ),
        "security_certification": _("{shop}'s policy does not name any security certification."),
        "staff_access": _("{shop}'s policy does not say which of its staff can see your data."),
        "request_fee": _(
            "{shop}'s policy does not say whether your requests about your data cost anything."
        ),
        "response_time": _(
            "{shop}'s policy does not say how quickly it answers your requests about your data."
        ),
        "portability": _(
            "{shop}'s policy does not say how you can take your data to another service."
        ),
        "consent_withdrawal": _("{shop}'s policy does not say how you can withdraw your consent."),
        "sms_marketing": _(
            "{shop}'s policy does not say whether it sends marketing by text message."
        ),
        "cctv": _("{shop}'s policy does not say whether it films its premises."),
        "law_enforcement": _(
            "{shop}'s policy does not say when it gives your data to the police or other "
            "authorities."
        ),
        "group_companies": _(
            "{shop}'s policy does not say whether it shares your data with companies of its group."
        ),
        "social_login": _(
            "{shop}'s policy does not say what it receives when you sign in with another "
            "account such as Google or Facebook."
        ),
        "company_number": _("{shop}'s policy does not give the company's registration number."),
        "deceased": _("{shop}'s policy does not say what happens to your data after your death."),
        "carrier_named": _("{shop}'s policy does not name the company that delivers your parcels."),
        "payment_named": _(
            "{shop}'s policy does not name the company that processes your payments."
        ),
        "analytics_named": _(
            "{shop}'s policy does not name the analytics or tracking services it uses."
        ),
        "hosting_named": _(
            "{shop}'s policy does not name the host or cloud where your data is stored."
        ),
        "marketing_frequency": _(
            "{shop}'s policy does not say how often it sends marketing messages."
        ),
        "public_reviews": _(
            "{shop}'s policy does not say whether your reviews or comments are published with "
            "your name."
        ),
        "inactive_account": _(
            "{shop}'s policy does not say what happens to your account if you stop using it."
        ),
    }
    text = texts.get(
        SAID_AS.get(topic, topic), _("{shop}'s policy does not say anything about this.")
    )
    return text.format(shop=shop)


def law_note(topic: str) -> str | None:
    """What the GDPR gives the customer on the practice, right or detail whatever the policy
    says, where that is settled."""
    notes = {
        "retention": _(
            "Under the GDPR a shop may keep personal data only as long as it needs it for its "
            "purposes. You can ask what it holds about you, or ask it to delete your data; it "
            "must answer within one month."
        ),
        "rights": _(
            "The GDPR gives you these rights all the same: to get a copy of your data, to have "
            "it corrected or deleted, and to object to marketing. The shop must answer within "
            "one month."
        ),
        "collection": _(
            "You have the right to ask the shop what data it holds about you and to get a copy; "
            "it must answer within one month."
        ),
        "sharing": _(
            "You have the right to ask the shop who has received your data; it must answer "
            "within one month."
        ),
        "transfers": _(
            "Data may leave the EU only with safeguards the GDPR sets, and you have the right "
            "to ask which apply."
        ),
        "complaints": _(
            "You can always complain to the data protection authority of your country."
        ),
        "marketing": _("You can object to marketing at any time, and the shop must then stop."),
        "dpo": _("Not every shop must appoint a data protection officer."),
        "automated_decisions": _(
            "You have the right not to be subject to a decision based solely on automated "
            "processing that significantly affects you, and to ask a person to look at it."
        ),
        "minors": _(
            "In the EU a child may consent to online services alone only from an age between "
            "13 and 16, set by each country; below it a parent must consent."
        ),
        "access": _(
            "The GDPR gives you the right all the same to know what data the shop holds "
            "about you and to get a copy of it. The shop must answer within one month."
        ),
        "correction": _(
            "The GDPR gives you the right all the same to have wrong or incomplete data "
            "about you corrected. The shop must answer within one month."
        ),
        "deletion": _(
            "The GDPR gives you the right all the same to have your data deleted when the "
            "shop no longer needs it or you withdraw your consent. The shop must answer "
            "within one month."
        ),
        "cookie_control": _(
            "Cookies that are not strictly necessary need your consent, which you can refuse "
            "or withdraw at any time; your browser can also delete and block cookies."
        ),
        "breach_notice": _(
            "Under the GDPR a shop must tell you without undue delay about a breach of your "
            "data that puts you at high risk."
        ),
        "request_fee": _(
            "Under the GDPR a shop must give you a copy of your data and act on your requests "
            "free of charge; it may ask a reasonable fee only for further copies or for requests "
            "that are clearly unfounded or excessive."
        ),
        "response_time": _(
            "Under the GDPR the shop must answer within one month; for complex or many requests "
            "it may take two months more, and must tell you so within the first month."
        ),
        "portability": _(
            "The GDPR gives you the right to get the data you gave the shop in a structured, "
            "machine-readable format and to have it sent to another company, where the shop "
            "uses it on your consent or for a contract with you."
        ),
        "consent_withdrawal": _(
            "Under the GDPR you can withdraw your consent at any time, as easily as you gave "
            "it; what the shop did before stays lawful."
        ),
        "biometrics": _(
            "Under the GDPR biometric data that identifies a person may be used only on narrow "
            "grounds, usually with that person's explicit consent."
        ),
        "deceased": _(
            "The GDPR protects the data of living persons; what happens after death is left to "
            "each country's law."
        ),
    }
    return notes.get(NOTED_AS.get(topic, topic))


def practice_title(practice: str) -> str:
    """What the practice is about, as a line of the policy-at-a-glance card."""
    titles = {
        "identity": _("Who is responsible for your data"),
        "collection": _("What data is collected"),
        "purposes": _("What your data is used for"),
        "legal_basis": _("The legal grounds for using your data"),
        "sharing": _("Who receives your data"),
        "transfers": _("Whether your data leaves the EU"),
        "retention": _("How long your data is kept"),
        "security": _("How your data is protected"),
        "cookies": _("Cookies and tracking"),
        "marketing": _("Marketing messages and newsletters"),
        "rights": _("Your rights over your data"),
        "minors": _("Children's data"),
        "contact": _("Whom to contact about your data"),
        "dpo": _("The data protection officer"),
        "complaints": _("Complaining to a data protection authority"),
        "changes": _("Changes to the policy"),
        "automated_decisions": _("Automated decisions and profiling"),
    }
    return titles.get(practice, practice)


def practice_label(practice: str) -> str:
    """The practice in a word or two, for a button under the card."""
    labels = {
        "identity": _("Controller"),
        "collection": _("Data collected"),
        "purposes": _("Purposes"),
        "legal_basis": _("Legal grounds"),
        "sharing": _("Recipients"),
        "transfers": _("Transfers abroad"),
        "retention": _("Retention"),
        "security": _("Security"),
        "cookies": _("Cookies"),
        "marketing": _("Marketing"),
        "rights": _("Your rights"),
        "minors": _("Children"),
        "contact": _("Contact"),
        "dpo": _("DPO"),
        "complaints": _("Complaints"),
        "changes": _("Policy changes"),
        "automated_decisions": _("Automated decisions"),
    }
    return labels.get(practice, practice)
