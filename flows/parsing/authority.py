"""Authority: who the person is and how much say they have.

Result: `{"role": "CFO", "level": "economic_buyer"}`; `role` is None when no title is given;
`"approver": "VP"` is added when the answer names someone else who signs off, or names only
someone else ("our CFO"); `"final_say": "Board"` when it says the board approves ("the CFO but I
need board approval", "our CFO, but the board has to approve", "it goes to the board", "the
board"; not "no board approval needed" nor "I report to the board"): above everyone named, so
scoring gives no one named more than a decision maker's marks. "Not sure",
"no idea": `{"unknown": True, "unsure": True}`; unreadable: `{"unknown": True}`. The answer
may be about the speaker ("I'm the CFO") or, from a rep, about the lead ("she's head of IT",
"CFO"); both read the same.

Levels by title:
- economic_buyer: CEO, CFO, COO, founder/co-founder, owner (of the business), president,
  managing director, managing partner, chairman, "budget owner"; "I own the company", "it's
  my business" (the owner).
- decision_maker: other C-level (CTO, CIO, CMO, CRO, "Chief X Officer"), VP/SVP/EVP,
  head of X, director ("dir"), general manager, partner.
- influencer: manager ("mgr"), team lead / tech lead / procurement lead, supervisor,
  architect, consultant, product owner, champion; the owner of a project, process, system,
  initiative... ("project owner", "owner of the project": was the business owner, an economic
  buyer).
- end_user: individual contributors: engineer, developer, analyst, admin, specialist,
  coordinator, rep/SDR/BDR/AE, designer, assistant, intern, "user".
The questions also ask whether the person signs off ("What's your role, and will you be the
one signing off?"): a yes ("yes", "me", "CTO, yes") counts as "I decide", a no ("no",
"Head of Sales, no", "No, the CFO will") as needing someone else's sign-off. A title after an
opening no, or beside a "not me", is the approver's unless tied to the speaker ("not me, the
CFO", "the CFO, not me"; but "no, I'm the office manager").
A joint decision with someone named ("me and the CFO", "the CFO and I", "me together with our
CEO", "both me and the VP Sales") is the speaker deciding with that person, who signs off too:
the title is theirs (the approver), the speaker a decision maker at least ("CFO" was the
speaker's title, as if the speaker were the CFO). So is one without the "me" ("jointly with the
CFO", "together with our CEO", "I decide with the CFO"; these read as the CFO's sign-off) and
one with someone untitled ("my boss and I", "the team and I"; "me and my boss" already read as
"me"). A speaker who decides alone is not signed off by whom they report to: "I report to the
CEO and I decide" is a decision maker without an approver. Nor by a title only mentioned: one
after a bare "the" with a later clause in which the speaker decides ("the CFO, I sign off", "the
CFO but I sign off", "the CFO is involved, but it's my call") is someone else's, and the speaker
a decision maker (it was read as the speaker being the CFO), as with "our CFO, but I sign off";
"I'm the CFO, I sign off", "CFO, I sign off" and "the CFO, yes I sign off" are the speaker's.
Nor is a title before a clause in which the speaker needs that person's sign-off, named by a
pronoun: "the CFO but I need her sign-off", "CFO, I have to run it by him", "the CFO, I'll need
her to sign" are an influencer with the CFO's sign-off (they were the speaker being the CFO);
"I'm the CFO but I need their sign-off" is the CFO. A title after "get" is someone the speaker
gets to sign off: "I'll get the CFO to sign off", "I'm getting the VP to approve it" are an
influencer with that person's sign-off (the first was the speaker being the CFO).
Statements without a title: "I decide" / "final say" / "my call" / "I get final say" (was not
understood), a yes to "who signs off?" with a "that's me" ("yep that's me", "yeah it's me": was
not understood), and in the future "I'll sign
off", "I'll be signing off", "I will be the one approving", "I'll be the decision maker" ->
decision_maker;
"I own / control / hold the budget" -> economic_buyer; "on the committee", "I recommend",
"evaluating" -> influencer; "I'll be using it" -> end_user. Recommending to someone ("IT
manager, recommends to the COO") is needing their sign-off.
Modifiers:
- An end user who is evaluating, researching, recommending or shortlisting is an influencer
  ("engineer evaluating" -> influencer).
- Needing someone else's sign-off ("I need my VP's sign-off", "my boss the VP signs off",
  "not the decision maker") makes the speaker an influencer at most (an end user stays an end
  user); economic buyers by title keep their level (a CEO whose board approves is still the
  economic buyer, with `final_say: Board`). Titles attached to someone else ("my VP", "the CFO
  signs off", "reports to the CEO") are that person's, not the speaker's; so is one named with
  "with" or before "approval" ("VP Sales, with CFO approval", "VP Sales, CFO approval"; not
  "with final approval").
- A sign-off needed only above an amount ("VP Sales, with CFO approval above 100k", "the CFO
  signs off on anything over $50k", "for deals > 25k") is conditional: the speaker decides
  below it and keeps their level, and `"approver_above": "100k"` (the amount as typed) is
  added beside the approver, read back as "sign-off by CFO above 100k". So is an approval
  limit with someone else above it ("I approve up to 50k, CFO above that", "my limit is 25k,
  anything above goes to the CEO", "deals over 50k need the CFO"): a title in the clause
  that says so is that someone, unless it is the speaker's own ("I'm the CFO, I approve
  anything over 10k"); the amount must be money ("CTO for over 5 years" is no limit). A plain
  no ("no, the CFO signs above 100k") still caps the speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._common import CLAUSES, UNSURE, Parsed, clean, lower, never_raise, unknown, unsure

_ORDER = {"end_user": 0, "influencer": 1, "decision_maker": 2, "economic_buyer": 3}

_ACRONYMS = {"it", "hr", "qa", "ux", "ui", "r&d", "bi", "crm", "erp", "gtm", "pr", "seo",
             "ai", "ml", "l&d", "fp&a", "sre", "emea", "apac",
             "latam", "sdr", "bdr", "ae", "ic"}
_DOMAINS = frozenset({
    "it", "hr", "r&d", "qa", "ux", "ui", "bi", "crm", "erp", "gtm", "pr", "seo", "devops",
    "revops", "sre", "fp&a", "l&d", "ai", "ml", "sales", "sales ops", "sales operations",
    "sales enablement", "sales development", "marketing", "marketing ops",
    "marketing operations", "engineering", "product", "product management", "finance",
    "financial planning", "operations", "ops", "procurement", "purchasing", "security",
    "information security", "infosec", "it security", "infrastructure", "data",
    "data science", "data engineering", "analytics", "revenue", "revenue operations", "growth",
    "customer success", "customer support", "customer experience", "support", "success",
    "legal", "design", "people", "talent", "talent acquisition", "recruiting",
    "business development", "partnerships", "technology", "tech", "software", "platform",
    "demand generation", "demand gen", "communications", "content", "brand", "digital",
    "ecommerce", "e-commerce", "accounting", "treasury", "compliance", "risk", "facilities",
    "administration", "logistics", "supply chain", "manufacturing", "quality", "research",
    "innovation", "strategy", "transformation", "cloud", "network", "networking", "systems",
    "applications", "development", "training", "enablement", "learning", "services",
    "professional services", "field sales", "inside sales", "enterprise sales",
    "account management", "channel", "alliances", "emea", "apac", "latam", "north america",
    "it department", "information technology", "human resources",
})
# Words that may stand before "manager" / "lead" / an individual-contributor title.
_MANAGER_PRE = _DOMAINS | {"account", "project", "program", "office", "department", "team",
                           "line", "hiring", "store", "branch", "regional", "area", "plant",
                           "country", "district", "product", "senior", "sr", "sr."}
_LEAD_PRE = frozenset({"team", "tech", "technical", "engineering", "project", "sales",
                       "marketing", "dev", "design", "product", "qa", "data", "it", "ops",
                       "squad", "procurement", "purchasing", "finance", "security", "revops",
                       "support", "growth", "analytics", "platform", "devops", "infrastructure",
                       "operations", "ux", "research", "content", "account", "delivery"})
_LEAD_POST = frozenset({"engineer", "developer", "architect", "designer", "analyst"})
_IC_PRE = _DOMAINS | {"senior", "sr", "sr.", "junior", "jr", "jr.", "staff", "principal",
                      "software", "backend", "frontend", "full-stack", "fullstack",
                      "full stack", "systems", "system", "network", "platform", "solutions",
                      "site reliability", "financial", "business", "lead"}
# What an "owner" may own other than the business: "project owner", "owner of the process".
_OWNED_THINGS = frozenset({"project", "process", "system", "application", "app", "service",
                           "platform", "tool", "data", "initiative", "program", "programme",
                           "relationship", "technical", "solution", "vendor", "workstream",
                           "evaluation", "rollout", "implementation"})
_OWNER_OF = re.compile(
    r"\s+of\s+(?:the|this|our)\s+(?P<thing>" + "|".join(sorted(_OWNED_THINGS)) + r")\b")
_ARCHITECT_PRE = frozenset({"solutions", "solution", "enterprise", "software", "cloud", "it",
                            "data", "security", "technical", "principal", "senior"})

_C_LEVEL: dict[str, tuple[str, str]] = {
    "ceo": ("CEO", "economic_buyer"), "cfo": ("CFO", "economic_buyer"),
    "coo": ("COO", "economic_buyer"), "cto": ("CTO", "decision_maker"),
    "cio": ("CIO", "decision_maker"), "cmo": ("CMO", "decision_maker"),
    "cro": ("CRO", "decision_maker"), "ciso": ("CISO", "decision_maker"),
    "cpo": ("CPO", "decision_maker"), "chro": ("CHRO", "decision_maker"),
    "cdo": ("CDO", "decision_maker"), "cso": ("CSO", "decision_maker"),
    "cco": ("CCO", "decision_maker"),
}
_CHIEF: dict[str, tuple[str, str]] = {
    "executive": ("CEO", "economic_buyer"), "financial": ("CFO", "economic_buyer"),
    "finance": ("CFO", "economic_buyer"), "operating": ("COO", "economic_buyer"),
    "operations": ("COO", "economic_buyer"), "technology": ("CTO", "decision_maker"),
    "technical": ("CTO", "decision_maker"), "information": ("CIO", "decision_maker"),
    "marketing": ("CMO", "decision_maker"), "revenue": ("CRO", "decision_maker"),
    "information security": ("CISO", "decision_maker"), "product": ("CPO", "decision_maker"),
    "people": ("CPO", "decision_maker"), "human resources": ("CHRO", "decision_maker"),
    "data": ("CDO", "decision_maker"), "digital": ("CDO", "decision_maker"),
    "sales": ("CSO", "decision_maker"), "commercial": ("CCO", "decision_maker"),
    "customer": ("CCO", "decision_maker"),
}

# The head word of a title; the words around it (domain, seniority) are read separately.
_ROLE = re.compile(
    r"\b(?:"
    r"(?P<clevel>ceo|cfo|coo|cto|cio|cmo|cro|ciso|cpo|chro|cdo|cso|cco)"
    r"|(?P<chief>chief\s+(?P<chief_of>[a-z]+(?:\s+[a-z]+)?)\s+officer)"
    r"|(?P<cofounder>co-?\s?founder)"
    r"|(?P<founder>founder)"
    r"|(?P<product_owner>product\s+owner)"
    r"|(?P<budget_owner>budget\s+(?:owner|holder))"
    r"|(?P<owner>(?:business\s+|company\s+|co-?)?owner)"
    r"|(?P<vp>s?vp|evp|avp|senior\s+vice[\s-]+president|executive\s+vice[\s-]+president|"
    r"vice[\s-]+president)"
    r"|(?P<president>president)"
    r"|(?P<md>managing\s+(?:director|partner)|md)"
    r"|(?P<chair>chair(?:man|woman|person)?)"
    r"|(?P<head>(?:global\s+|regional\s+)?head\s+of)"
    r"|(?P<director>(?:(?:senior|sr\.?|associate|executive)\s+)?(?:director|dir)(?!\.\w))"
    r"|(?P<gm>general\s+manager|gm)"
    r"|(?P<partner>partner(?!\s+(?:company|program|portal|agency|network)))"
    r"|(?P<manager>manager|mgr|mngr)"
    r"|(?P<lead>lead|leader|supervisor)"
    r"|(?P<architect>architect)"
    r"|(?P<consultant>consultant|advisor|adviser|controller|comptroller|(?<!economic\s)buyer)"
    r"|(?P<ic>engineer|developer|dev|programmer|analyst|admin|administrator|specialist|"
    r"coordinator|sdr|bdr|account\s+executive|ae|rep|representative|designer|scientist|"
    r"associate|assistant|intern|accountant|recruiter|marketer|technician|agent|"
    r"individual\s+contributor|ic)"
    r"|(?P<owns>(?:i|she|he|they)\s+owns?\s+(?:the|this|our|my|her|his|their)\s+"
    r"(?:company|business|firm|agency|shop|store|practice)"
    r"|(?:it'?s|it\s+is)\s+(?:my|her|his|their)\s+(?:own\s+)?(?:company|business|firm))"
    r"|(?P<runs>(?:i|she|he|they)\s+(?:(?:currently|basically)\s+)?(?P<runs_verb>run|runs|lead|"
    r"leads|head|heads|oversee|oversees|manage|manages)|(?:i'?m|i\s+am|she'?s|he'?s|"
    r"she\s+is|he\s+is)\s+(?:in\s+charge\s+of|responsible\s+for))"
    r")\b"
)
_AFTER_JOIN = re.compile(r"\s*(?:of|,|-|for)?\s*(?:the\s+|our\s+|their\s+|all\s+)?")
_WORDS = re.compile(r"[a-z&][a-z&.-]*")

# Words that tie a title to the speaker / the lead ("I'm the", "she is a") or to someone else
# ("my", "her boss", "reports to", "sign-off from"). The nearest one before a title decides.
_MARKER = re.compile(
    r"(?P<self>\b(?:i'?m|i\s+am|im|she'?s|he'?s|they'?re|we'?re|she\s+is|he\s+is|they\s+are|"
    r"is|am|are|as|work\s+as|works\s+as|contact\s+is)(?:\s+(?:a|an|the|our|their))?)\b"
    r"|(?P<other>\b(?:my|our|his|her|their|your|boss|reports?\s+to|reporting\s+to|from|with|"
    r"by|ask|behind|convince|needs?|to|approval|sign[\s-]?off|check|get|getting)\b)"
)
_JOINED = re.compile(r"^\s*(?:,|and|or|&|/|,\s*and|plus)\s*(?:(?:the|my|our|their|her|his)\s+)?$")
_GAP = re.compile(r"^[\s,]*(?:[\w'&-]+[\s,]+){0,2}$")
_OTHER_AFTER = re.compile(
    r"\s*(?:'s?\b|(?:,\s*)?(?:who\s+)?(?:signs?|signing|approves?|approving|decides?|"
    r"deciding|has\s+(?:the\s+)?(?:final|last)\s+(?:say|word|call)|makes?\s+the\s+(?:final\s+)?"
    r"(?:call|decision)|(?:holds?|owns?|controls?)\s+the\s+(?:budget|purse)|"
    r"needs\s+to\s+(?:approve|sign)|must\s+(?:approve|sign)|will\s+(?:approve|sign|decide)|"
    r"has\s+to\s+(?:approve|sign)|is\s+the\s+(?:decision|economic)|calls\s+the\s+shots|"
    r"would\s+(?:approve|sign|decide)|(?:will|does|would)\s*[.!]*$)"
    r"|\s+(?:approval|sign[\s-]?off|signoff|signature|blessing|go[\s-]?ahead)\b)"
)
_NEEDS_SIGNOFF = re.compile(
    r"\b(?:need|needs|needed|require|requires|required|get|getting|got\s+to\s+get|"
    r"have\s+to\s+get|has\s+to\s+get|waiting\s+(?:for|on)|pending|subject\s+to|seek|seeking)"
    r"\b[^.;]{0,40}?\b(?:sign[\s-]?off|approval|okay|ok|go[\s-]?ahead|blessing|buy[\s-]?in|"
    r"green\s+light|signature|authori[sz]ation)\b"
    r"|\b(?:sign[\s-]?off|approval)\s+(?:from|by)\b"
    # "recommends to the COO": the COO decides
    r"|\b(?:recommend|propose|present)(?:s|ed|ing)?\s+(?:it\s+|this\s+|them\s+)?to\b"
    # "with CFO approval", "with sign-off from the CFO"; not "with final approval"
    r"|\bwith\s+(?!(?:the\s+)?(?:final|full|sole|my|own)\b)(?:[\w'&-]+\s+){0,3}?"
    r"(?:approval|sign[\s-]?off|signoff|blessing|go[\s-]?ahead|ok|okay)\b"
    r"|\b(?:my|our|his|her|their|the)\s+(?!one\s+(?:who|that)\b)"
    r"(?:(?!i\b|me\b|we\b)[\w']+,?\s+){0,3}"
    r"(?:signs?\s+off|approves?|"
    r"decides?|has\s+(?:the\s+)?(?:final|last)\s+(?:say|word)|"
    r"makes?\s+the\s+(?:final\s+)?(?:call|decision)|holds?\s+the\s+(?:purse|budget)|"
    r"owns?\s+the\s+budget|controls?\s+the\s+budget|calls\s+the\s+shots|signs?\s+the\s+"
    r"(?:contract|checks?|cheques?|deal)|(?:needs?|has|have|must|will)\s+to\s+(?:approve|sign))\b"
    r"|\b(?:final\s+say|decision|sign[\s-]?off|approval|budget)\s+(?:is|lies|sits|rests)\s+"
    r"with\b|\bdecision[\s-]?maker\s+is\s+(?:my|our|his|her|their|the)\b"
    r"|\b(?:check|run\s+it|clear\s+it|run\s+this|clear\s+this|talk)\s+(?:with|by|past|to)\s+"
    r"(?:my|our|his|her|their|the)\b"
    r"|\bnot\s+(?:the|a)\s+(?:final\s+)?(?:decision[\s-]?maker|economic\s+buyer|buyer|signer)"
    r"|\bnot\s+(?:my|his|her|their)\s+(?:call|decision)|\babove\s+my\s+pay\s*grade"
    r"|\b(?:i|he|she|they)\s+(?:don'?t|doesn'?t|do\s+not|does\s+not|can'?t|cannot)\s+"
    r"(?:decide|sign|approve|make\s+the)"
    r"|\b(?:the\s+)?(?:board|committee|investors|leadership|management)\s+"
    r"(?:decides?|approves?|signs?|has\s+to|must|needs?\s+to|will)"
)
_SELF_DECIDES = re.compile(
    r"\b(?:i|she|he|they)\s+(?:(?:alone|personally|ultimately|will|can|do|does)\s+)?"
    r"(?:decide|decides|make\s+the\s+(?:final\s+)?(?:call|decision)|makes\s+the\s+(?:final\s+)?"
    r"(?:call|decision)|sign\s+off|signs\s+off|approve|approves|have\s+(?:the\s+)?final\s+say|"
    r"has\s+(?:the\s+)?final\s+say|call\s+the\s+shots|calls\s+the\s+shots)\b"
    r"|\b(?:my|her|his|their)\s+(?:call|decision)\b"
    r"|\b(?:i'?m|i\s+am|im|we'?re|we\s+are|she'?s|he'?s|they'?re|she\s+is|he\s+is|they\s+are|"
    r"(?:i|she|he|they|we)(?:'ll|\s+will)\s+be)"
    r"\s+(?:the|a|one\s+of\s+the)\s+(?:final\s+)?decision[\s-]?makers?"
    r"|\b(?:i'?m|i\s+am|she'?s|he'?s|she\s+is|he\s+is)\s+the\s+one\s+(?:who|that)\s+"
    r"(?:decides|signs|approves|makes\s+the\s+(?:final\s+)?(?:call|decision))"
    r"|\b(?:i|she|he|they)\s+(?:can\s+|will\s+|do\s+|does\s+)?signs?\b(?!\s+up)"
    # "I'll sign off", "I'll be signing off", "I will be the one approving", "she'll decide"
    r"|\b(?:i|she|he|they)(?:'ll|\s+will)\s+(?:(?:personally|ultimately|also)\s+)?"
    r"(?:be\s+(?:the\s+one\s+)?(?:signing|approving|deciding|making\s+the\s+(?:final\s+)?"
    r"(?:call|decision))|sign(?!\s+up)|approve|decide|make\s+the\s+(?:final\s+)?"
    r"(?:call|decision)|have\s+(?:the\s+)?final\s+say)\b"
    r"|\bresponsible\s+for\s+(?:the\s+|this\s+)?(?:purchase|buying\s+decision|decision)"
    r"|^(?:the\s+)?(?:final\s+)?decision[\s-]?maker\b"
    r"|\bfinal\s+say\s+is\s+mine|\bfull\s+authority|\bsigning\s+authority"
    # "I get final say", "I get the last word"
    r"|\b(?:i|she|he|they)\s+(?:(?:always|ultimately|do|does|will)\s+)?gets?\s+(?:the\s+)?"
    r"(?:final|last)\s+(?:say|word|call)\b"
)
_SELF_BUDGET = re.compile(
    r"\b(?:owns?|holds?|controls?)\s+the\s+(?:budget|purse)|\b(?:i|she|he|they)\s+(?:(?:own|control|hold|manage|have)s?\s+the\s+(?:budget|purse)|"
    r"sign(?:s)?\s+the\s+(?:checks?|cheques?|contracts?))\b|\beconomic\s+buyer\b"
    r"|\b(?:my|her|his)\s+budget\b|\bbudget\s+is\s+(?:mine|hers|his)\b"
)
_EVALUATING = re.compile(
    r"\b(?:evaluat\w*|research\w*|looking\s+into|assess\w*|recommend\w*|shortlist\w*|"
    r"tasked\s+with|trial(?:l)?ing|testing|piloting|scouting|comparing|vetting|"
    r"on\s+the\s+(?:buying\s+|evaluation\s+|selection\s+)?committee|influenc\w*|champion|"
    r"leading\s+the\s+(?:evaluation|project|search|selection)|running\s+the\s+"
    r"(?:evaluation|project|search|selection|pilot)|part\s+of\s+the\s+decision|"
    r"have\s+(?:a\s+)?(?:say|input|influence)|provide\s+input|gather\w*\s+requirements)\b"
)
_USER = re.compile(
    r"\b(?:end[\s-]?user|i'?ll\s+be\s+using|i\s+will\s+(?:be\s+)?us(?:e|ing)|"
    r"i\s+(?:just\s+)?use\s+it|just\s+a\s+user|a\s+user|day[\s-]to[\s-]day\s+user)\b"
)
# A clause that is only a yes or a no, first or last in the answer, replies to "will you be
# the one signing off?" ("CTO, yes", "No, the CFO will").
_SIGNS = re.compile(
    r"(?:(?:yes|yeah|yep|yup|sure|correct)\s+)?(?:"
    r"yes|yeah|yep|yup|sure|correct|definitely|absolutely|indeed|me|myself|"
    r"(?:yes\s+)?(?:i\s+(?:will|do|can|am|sign)|i'll)|(?:that'?s|it'?s|it\s+is|that\s+is|"
    r"that\s+(?:would|will)\s+be)\s+me)"
)
_POSSESSIVE = re.compile(r"'s?\b")
# A title joined to the speaker: "me and the CFO", "me together with our CEO", "me + CFO"
# (before the title), "the CFO and I", "the CFO and me" (after it).
# Without the "me" too, where the answer says who signs off: "jointly with the CFO", "a joint
# decision with the CFO", "together with our CEO" (opening the answer), "we decide jointly with
# the COO", "I decide with the CFO", "I sign off together with the CFO".
_JOINT_BEFORE = re.compile(
    r"(?:\b(?:me|myself|i)\s*,?\s*(?:&|\+|\b(?:and|plus|(?:together|along|jointly)\s+with|"
    r"with|as\s+well\s+as)\b)"
    r"|\b(?:jointly|joint\s+decision|decided\s+together)\s+with\b"
    r"|^(?:together|along)\s+with\b"
    r"|\b(?:decide[sd]?|deciding|sign(?:s|ed|ing)?\s+off|approve[sd]?)\s+"
    r"(?:(?:together|along)\s+)?with\b"
    r")\s*(?:(?:the|my|our)\s+)?(?:other\s+)?$"
)
_JOINT_AFTER = re.compile(
    r"\s*,?\s*(?:&|\+|\b(?:and|plus)\b)\s*(?:also\s+)?(?:me|myself|i)\b(?!\s*')"
)
_JOINT_LEAD = re.compile(r"(?:\bboth\s+)?\b(?:the|my|our)\s+$")
# ... but not a title someone reports to ("I report to the CFO and I recommend").
_JOINT_NOT_AFTER = re.compile(
    r"\b(?:to|from|by|ask|convince|behind|needs?|check|with)\s+(?:(?:the|my|our)\s+)?$")
# The same with someone untitled: "my boss and I", "our team and me"; after "the" only a group
# ("the team and I", "the board and I"; "I'm the analyst and I use it" is not a joint decision).
_JOINT_UNTITLED = re.compile(
    r"\b(?:(?:my|our)\s+[a-z-]+|the\s+(?:(?:leadership|management|exec(?:utive)?|founding|"
    r"buying|project|core)\s+)?(?:team|board|founders|co-?founders|partners|owners|management|"
    r"leadership|execs|executives|committee))\s*(?:&|\+|\band\b)\s*(?:me|myself|i)\b(?!\s*')"
)
# "the CFO, I sign off": a bare "the" before a title, and a later clause opening with the
# speaker ("I", "my", "it's my") who decides.
_BARE_THE = re.compile(r"(?:^|[,;:.!?]|\s[-\u2013\u2014]+|\bbut|\band)\s*the\s+$")
_THEM = re.compile(r"\b(?:her|his|him|their|them)\b")
_NEEDS_THEM = re.compile(
    r"\b(?:need|needs|have\s+to|has\s+to|must|got\s+to)\s+(?:(?:him|her|them)\s+to\s+"
    r"(?:sign|approve|ok|okay)|(?:to\s+)?(?:check|run\s+(?:it|this)|clear\s+(?:it|this)|talk)\s+"
    r"(?:with|by|past|to)\s+(?:him|her|them))\b"
)
_SPEAKER = re.compile(r"(?:(?:it'?s|it\s+is|that'?s)\s+)?(?P<who>(?:i|i'm|im|my)\b)")
_NOT_ME = re.compile(r"(?:(?:it'?s|that'?s|it\s+is)\s+)?not\s+(?:me|myself|mine)")
_DOES_NOT_SIGN = re.compile(
    r"no|nope|nah|not\s+me|not\s+really|(?:no\s+)?i\s+(?:won'?t|don'?t|can'?t|will\s+not|do\s+not)"
)


# The board's approval, above every title: "board approval", "the board's call", "sign-off
# from the board", "the board has to approve", "our board decides", "it goes to the board", "up
# to the board", "final say is with the board", "our CEO and the board", "the board" alone.
_THE_BOARD = r"(?:(?:the|our|my|their)\s+)?board(?:\s+of\s+directors)?"
_BOARD = re.compile(
    r"\bboard(?:'s)?\s+(?:approval|sign[\s-]?off|signoff|ok|okay|go[\s-]?ahead|vote|decision|call|"
    r"blessing)\b"
    r"|\b(?:approval|sign[\s-]?off|go[\s-]?ahead|ok|okay|blessing|vote)\s+"
    r"(?:(?:needed|required)\s+)?(?:from|by|of)\s+"
    + _THE_BOARD + r"\b"
    r"|\b" + _THE_BOARD + r"\s+(?:(?:has|have|needs?|must|will|would|should)\s+(?:to\s+)?)?"
    r"(?:approves?|signs?(?:\s+off)?|decides?|votes?|ok|okays?|has\s+(?:the\s+)?(?:final|last)\s+"
    r"(?:say|word|call)|makes?\s+the\s+(?:final\s+)?(?:call|decision)|(?:does|will|do)\s*[.!]*$)"
    r"|\b(?:go(?:es)?|going|went|take|taking|bring|bringing|present|presenting|run|running|put|"
    r"recommend(?:s|ing)?|up)\s+(?:it\s+|this\s+)?(?:to|before|by|past)\s+the\s+board\b"
    r"|\b(?:final\s+say|decision|sign[\s-]?off|approval)\s+(?:is|lies|sits|rests)\s+with\s+"
    + _THE_BOARD + r"\b"
    r"|(?:^|\b(?:and|then)\s+|[&+,]\s*)" + _THE_BOARD + r"\s*[.!]*$"
)
# A sign-off needed only above an amount: "with CFO approval above 100k", "CFO signs off on
# anything over $50,000", "board approval for deals > 1m".
_AMOUNT = r"[$€£]?\s?\d[\d,.]*\s*(?:k|m|mm|bn|thousand|million)?\b"
_ABOVE = re.compile(
    r"\b(?:above|over|beyond|exceeding|(?:more|greater|higher|bigger|larger)\s+than|"
    rf"north\s+of)\s+(?P<amount>{_AMOUNT})"
    rf"|>\s*=?\s*(?P<sign>{_AMOUNT})"
)
# An amount of money rather than years or people: a currency, a magnitude or four digits.
_MONEYISH = re.compile(r"[$€£]|\d\s*(?:k|m|mm|bn|thousand|million)\b|\d,\d{3}|\d{4}")
# An approval limit, then someone else above it: "I approve up to 50k, the CFO above that",
# "my limit is 25k; anything above goes to the CEO".
_UP_TO = re.compile(
    r"\b(?:up\s+to|(?:limit|threshold|cap)\s+(?:is\s+|of\s+)?(?:at\s+)?)"
    rf"(?P<amount>{_AMOUNT})"
)
_ABOVE_THAT = re.compile(
    r"\b(?:above|over|beyond|past|(?:more|bigger|larger|higher)\s+than)\s+"
    r"(?:that|this|it|the\s+limit|my\s+limit)\b"
    r"|\banything\s+(?:above|over|beyond|bigger|larger|more)\b(?!\s*(?:than\s+)?[$€£\d])"
)
_NEGATED = re.compile(r"\b(?:no|not|without|never)\b|n't\b")
_NOT_NEEDED = re.compile(r"\s+(?:is\s+|are\s+)?(?:not|n't|never)\s+(?:needed|required|necessary)\b"
                         r"|\s*(?:isn'?t|aren'?t)\s+(?:needed|required|necessary)\b")


def _sign_off_reply(clauses: list[str]) -> bool | None:
    """True for a first or last clause saying "yes, I sign off", False for "no", None for
    neither or both ("yes and no")."""
    replies: set[bool] = set()
    for clause in clauses[:1] + clauses[-1:]:
        if _SIGNS.fullmatch(clause):
            replies.add(True)
        elif _DOES_NOT_SIGN.fullmatch(clause):
            replies.add(False)
    return replies.pop() if len(replies) == 1 else None


@dataclass(slots=True)
class _Mention:
    role: str
    level: str
    start: int
    end: int
    other: bool
    joint: tuple[int, int] | None = None  # "me and the CFO": where that phrase is
    tied: bool = False  # right after "I'm the", "she is a"


_DISPLAY = {"revops": "RevOps", "devops": "DevOps", "salesops": "SalesOps", "e-commerce":
            "E-commerce", "ecommerce": "eCommerce", "sr.": "Sr.", "jr.": "Jr."}


def _title(words: str) -> str:
    parts = []
    for w in words.split():
        parts.append(_DISPLAY.get(w) or (w.upper() if w in _ACRONYMS else w if w in {"of", "and"}
                                         else w.capitalize()))
    return " ".join(parts)


def _words_before(t: str, start: int, allowed: frozenset[str], most: int = 3) -> tuple[str, int]:
    """The run of `allowed` words (or two-word phrases) right before `start`, up to `most`
    words, and where it begins."""
    window = t[max(0, start - 50):start]
    if not window or not window[-1].isspace():
        return "", start
    offset = start - len(window)
    spans = [(m.group(0), m.start() + offset, m.end() + offset) for m in _WORDS.finditer(window)]
    taken: list[str] = []
    begin = start
    i = len(spans)
    while i > 0 and len(taken) < most:
        # the words must be adjacent: only spaces between them and the title
        if t[spans[i - 1][2]:begin].strip():
            break
        pair = " ".join(w for w, _, _ in spans[i - 2:i]) if i >= 2 else ""
        if pair in allowed and not t[spans[i - 2][2]:spans[i - 1][1]].strip():
            taken[:0] = pair.split()
            begin = spans[i - 2][1]
            i -= 2
        elif spans[i - 1][0] in allowed:
            taken.insert(0, spans[i - 1][0])
            begin = spans[i - 1][1]
            i -= 1
        else:
            break
    return " ".join(taken), begin


def _domain_after(t: str, end: int) -> tuple[str, int]:
    """A domain right after a title ("VP of Sales", "Director, IT"), and where it ends."""
    join = _AFTER_JOIN.match(t, end)
    if join is None:
        return "", end
    pos = join.end()
    words = [(m.group(0), m.end()) for m in _WORDS.finditer(t, pos, min(len(t), pos + 50))]
    best = ("", end)
    for n in range(1, min(3, len(words)) + 1):
        if t[pos:words[n - 1][1]].count(",") or t[pos:words[n - 1][1]].count("."):
            break
        phrase = " ".join(w for w, _ in words[:n])
        if phrase in _DOMAINS:
            best = (phrase, words[n - 1][1])
    if best[0] and best[0].endswith("department"):
        best = (best[0].removesuffix(" department"), best[1])
    return best


def _classify(t: str, m: re.Match[str]) -> tuple[str, str, int, int] | None:
    """(role, level, start, end) for a title head word, or None."""
    g = m.lastgroup
    start, end = m.span()
    text = " ".join(m.group(0).split())
    if g == "clevel":
        return (*_C_LEVEL[text], start, end)
    if g == "chief":
        of = " ".join(m.group("chief_of").split())
        role, level = _CHIEF.get(of, (f"Chief {_title(of)} Officer", "decision_maker"))
        return role, level, start, end
    if g == "owner" and text == "owner":
        # "project owner", "owner of the project": owns the work, not the business
        pre, pre_start = _words_before(t, start, _OWNED_THINGS, most=1)
        if pre:
            return f"{_title(pre)} Owner", "influencer", pre_start, end
        owned = _OWNER_OF.match(t, end)
        if owned:
            return f"{_title(owned.group('thing'))} Owner", "influencer", start, owned.end()
    simple = {"cofounder": ("Co-founder", "economic_buyer"),
              "founder": ("Founder", "economic_buyer"),
              "product_owner": ("Product Owner", "influencer"),
              "budget_owner": ("Budget Owner", "economic_buyer"),
              "owner": ("Owner", "economic_buyer"),
              "owns": ("Owner", "economic_buyer"),
              "president": ("President", "economic_buyer"),
              "chair": ("Chair", "economic_buyer"),
              "gm": ("General Manager", "decision_maker"),
              "partner": ("Partner", "decision_maker")}
    if g in simple:
        return (*simple[g], start, end)
    if g == "md":
        role = "Managing Partner" if "partner" in text else "Managing Director"
        return role, "economic_buyer", start, end
    if g == "vp":
        label = ("SVP" if text.startswith(("svp", "senior")) else
                 "EVP" if text.startswith(("evp", "executive")) else
                 "AVP" if text == "avp" else "VP")
        of, start = _words_before(t, start, _DOMAINS)
        if not of:
            of, end = _domain_after(t, end)
        return (f"{label} of {_title(of)}" if of else label), "decision_maker", start, end
    if g == "head":
        of, of_end = _domain_after(t, end)
        if not of:
            word = _WORDS.match(t, _AFTER_JOIN.match(t, end).end())  # type: ignore[union-attr]
            if word is None:
                return None
            of, of_end = word.group(0), word.end()
        return f"Head of {_title(of)}", "decision_maker", start, of_end
    if g == "director":
        pre, pre_start = _words_before(t, start, _DOMAINS)
        if pre:
            return f"{_title(pre)} Director", "decision_maker", pre_start, end
        of, of_end = _domain_after(t, end)
        if of:
            return f"Director of {_title(of)}", "decision_maker", start, of_end
        return "Director", "decision_maker", start, end
    if g == "manager":
        pre, pre_start = _words_before(t, start, _MANAGER_PRE, most=2)
        if pre and pre not in {"senior", "sr", "sr."}:
            return f"{_title(pre)} Manager", "influencer", pre_start, end
        return "Manager", "influencer", pre_start, end
    if g == "lead":
        if text == "supervisor":
            return "Supervisor", "influencer", start, end
        nxt = _WORDS.match(t, end + 1) if end < len(t) and t[end] == " " else None
        if text == "lead" and nxt is not None and nxt.group(0) in _LEAD_POST:
            return f"Lead {_title(nxt.group(0))}", "influencer", start, nxt.end()
        pre, pre_start = _words_before(t, start, _LEAD_PRE, most=1)
        if pre:
            return f"{_title(pre)} {_title(text)}", "influencer", pre_start, end
        return None  # "a lead", "leads"
    if g == "architect":
        pre, pre_start = _words_before(t, start, _ARCHITECT_PRE, most=2)
        return _title(f"{pre} architect".strip()), "influencer", pre_start, end
    if g == "consultant":
        return _title(text), "influencer", start, end
    if g == "ic":
        special = {"ic": "Individual Contributor", "individual contributor":
                   "Individual Contributor", "ae": "Account Executive", "sdr": "SDR",
                   "bdr": "BDR", "dev": "Developer", "rep": "Rep"}
        pre, pre_start = _words_before(t, start, _IC_PRE)
        if pre.startswith("lead"):
            return _title(f"{pre} {text}"), "influencer", pre_start, end
        role = special.get(text) or _title(text)
        return (f"{_title(pre)} {role}" if pre else role), "end_user", pre_start, end
    if g == "runs":
        of, of_end = _domain_after(t, end)
        if not of:
            return None
        after_team = re.match(r"\s+(?:team|department|dept|function|org|organization|group)\b",
                              t[of_end:])
        if after_team:
            of_end += after_team.end()
        verb = m.group("runs_verb") or ""
        if verb.startswith("manage"):
            return f"{_title(of)} Manager", "influencer", start, of_end
        return f"Head of {_title(of)}", "decision_maker", start, of_end
    return None


def _others_from(t: str, clauses: list[str]) -> int:
    """Where titles start being someone else's unless tied to the speaker: after an opening
    "no" ("No, the CFO"), anywhere beside a "not me" ("the CFO, not me"); else nowhere."""
    if any(_NOT_ME.fullmatch(c) for c in clauses):
        return 0
    sep = CLAUSES.search(t)
    if sep is not None and sep.start() > 0 and _DOES_NOT_SIGN.fullmatch(t[:sep.start()]):
        return sep.end()
    return len(t) + 1


def _speaker_decides_from(t: str) -> int | None:
    """Where the first clause in which the speaker decides starts ("..., I sign off", "... but
    I make the call", "..., my call"), or None."""
    for sep in CLAUSES.finditer(t):
        speaker = _SPEAKER.match(t, sep.end())
        if sep.start() > 0 and speaker is not None and (
                _SELF_DECIDES.match(t, speaker.start("who"))
                or _SELF_BUDGET.match(t, speaker.start("who"))):
            return sep.end()
    return None


def _speaker_needs_them_from(t: str) -> int | None:
    """Where the first clause in which the speaker needs someone's sign-off, named by a
    pronoun, starts ("... but I need her sign-off", "..., I have to run it by him"), or None:
    the title before it is that someone."""
    for sep in CLAUSES.finditer(t):
        speaker = _SPEAKER.match(t, sep.end())
        if sep.start() == 0 or speaker is None:
            continue
        after = CLAUSES.search(t, speaker.end())
        clause = t[speaker.start("who"):after.start() if after else len(t)]
        if (_NEEDS_SIGNOFF.search(clause) and _THEM.search(clause)) or _NEEDS_THEM.search(clause):
            return sep.end()
    return None


def _joint(t: str, start: int, end: int) -> tuple[int, int] | None:
    """Where a title at `start`..`end` is joined to the speaker ("me and the CFO", "the CFO
    and I"), or None."""
    before = _JOINT_BEFORE.search(t, max(0, start - 40), start)
    if before is not None:
        return before.start(), end
    after = _JOINT_AFTER.match(t, end)
    if after is not None and not _JOINT_NOT_AFTER.search(t, max(0, start - 20), start):
        lead = _JOINT_LEAD.search(t, max(0, start - 20), start)
        return (lead.start() if lead else start), after.end()
    return None


def _mentions(t: str, clauses: list[str]) -> list[_Mention]:
    found: list[_Mention] = []
    others_from = _others_from(t, clauses)
    decides_from = _speaker_decides_from(t)
    needs_them_from = _speaker_needs_them_from(t)
    pos = 0
    while len(found) < 20:
        m = _ROLE.search(t, pos)
        if m is None:
            break
        pos = m.end()
        classified = _classify(t, m)
        if classified is None:
            continue
        role, level, start, end = classified
        pos = max(pos, end)
        marker = None
        for mark in _MARKER.finditer(t, max(0, start - 40), start):
            marker = mark
        # "the CFO signs off" is someone else; "CFO, signs the contract" (a title opening
        # the answer, then a comma) describes the person asked about.
        opens_answer = not t[:start].strip() and t[end:].lstrip().startswith(",")
        other = _OTHER_AFTER.match(t, end) is not None and not opens_answer
        if _POSSESSIVE.match(t, end):
            other = True  # "I'm the CEO's assistant"
        elif marker is not None and _GAP.match(t[marker.end():start]):
            other = marker.lastgroup == "other"
        elif start >= others_from:
            other = True  # "not me, the CFO"
        elif needs_them_from is not None and needs_them_from >= end:
            other = True  # "the CFO, but I need her sign-off"
        elif (decides_from is not None and decides_from >= end
              and _BARE_THE.search(t, max(0, start - 30), start)):
            other = True  # "the CFO, I sign off"
        if found and found[-1].other and _JOINED.match(t[found[-1].end:start]):
            other = True  # "approval from the CFO and CEO"
        # "I'm the CTO and I sign off" is the speaker's title; "I'm the CTO, the CFO and I
        # decide" is not
        tied = (marker is not None and marker.lastgroup == "self"
                and not t[marker.end():start].strip())
        joint = None if tied or _POSSESSIVE.match(t, end) else _joint(t, start, end)
        if joint is not None:
            other = True  # "me and the CFO": the CFO is someone else
            after_prev = start
            for prev in reversed(found):  # and so is the CEO in "the CEO, CFO and me"
                if prev.tied or not _JOINED.match(t[prev.end:after_prev]):
                    break
                prev.other, after_prev = True, prev.start
        found.append(_Mention(role, level, start, end, other, joint, tied))
    for mention in found:  # "the CFO and me, but mostly the CFO"
        if any(j.joint and j.role == mention.role for j in found):
            mention.other = True
    return found


@never_raise
def parse_authority(text: str) -> Parsed:
    """Read a role and authority level. See the module docstring for the rules."""
    t = lower(clean(text))
    if not t:
        return unknown()
    clauses = [c for c in CLAUSES.split(t) if c]
    mentions = _mentions(t, clauses)
    limit = _limit(t, mentions)
    own = [m for m in mentions if not m.other]
    others = [m for m in mentions if m.other]
    # Several own titles ("engineer and team lead"): the most senior, the first of equals.
    speaker = max(own, key=lambda m: _ORDER[m.level], default=None)
    approver = others[0] if others else None
    reply = _sign_off_reply(clauses)
    # A joint decision ("me and the CFO", "the CFO and I decide together") is the speaker
    # deciding, with the other signing too; its phrase is not read for someone else's
    # sign-off ("the CFO and I decide" is not "the CFO decides").
    joint = [m.joint for m in mentions if m.joint is not None]
    joint += [m.span() for m in _JOINT_UNTITLED.finditer(t)]
    rest = t
    for a, b in joint:
        rest = rest[:a] + "we".ljust(b - a) + rest[b:]
    board = "board" in rest and _board_decides(rest)
    needs_signoff = (
        reply is False
        or board
        or _NEEDS_SIGNOFF.search(rest) is not None
        or any(_OTHER_AFTER.match(t, m.end) is not None for m in others if m.joint is None)
    )
    if joint and reply is None and not _EVALUATING.search(rest):
        reply = True  # "me and the CFO" decide; "the CFO and I recommend" do not
    # The speaker who decides, alone, is not signed off by whom they report to: "I report to
    # the CEO and I decide" names no approver (it was "sign-off by CEO", which MEDDIC's economic
    # buyer scored as the CEO); "our CFO" alone still does.
    decides = not needs_signoff and not joint and bool(
        reply or _SELF_DECIDES.search(t) or _SELF_BUDGET.search(t))
    role = speaker.role if speaker else None
    level = speaker.level if speaker else None
    if not needs_signoff and _SELF_BUDGET.search(t):
        level = "economic_buyer"
    elif not needs_signoff and (reply or _SELF_DECIDES.search(t)) and (
        level is None or _ORDER[level] < _ORDER["decision_maker"]
    ):
        level = "decision_maker"
    if level == "end_user" and _EVALUATING.search(t):
        level = "influencer"
    # A sign-off needed only above an amount leaves the speaker's level: they decide below it.
    above = limit if approver is not None and reply is not False else None
    if needs_signoff and above is None and (
        level is None or (level != "economic_buyer" and _ORDER[level] > _ORDER["influencer"])
    ):
        level = "influencer"
    if level is None:
        if _EVALUATING.search(t):
            level = "influencer"
        elif _USER.search(t):
            level = "end_user"
        elif approver is not None:
            level = "influencer"
    if level is None:
        return unsure() if UNSURE.search(t) else unknown()
    result: Parsed = {"role": role, "level": level}
    if approver is not None and (
        needs_signoff or joint or above is not None or (speaker is None and not decides)
    ):
        result["approver"] = approver.role  # "our CFO" to "who has the final say?" too
        if above is not None:
            result["approver_above"] = above.replace(" ", "").rstrip(",.")
    if board:
        result["final_say"] = "Board"  # above everyone named, the CFO or CEO too
    return result


def _limit(t: str, mentions: list[_Mention]) -> str | None:
    """The amount above which someone else signs off ("the CFO signs anything over 50k", "I
    approve up to 50k, the CFO above that"), as typed; None if the answer names none. A title
    in the clause that says so, not the speaker's own ("I'm the CFO"), is that someone else:
    "deals over 50k need the CFO", "up to 50k, above that the CFO"."""
    above = _ABOVE.search(t)
    if above is not None:
        amount, start, end = above.group("amount") or above.group("sign"), *above.span()
    else:
        up_to, that = _UP_TO.search(t), _ABOVE_THAT.search(t)
        if up_to is None or that is None or that.start() < up_to.end():
            return None
        amount, start, end = up_to.group("amount"), *that.span()
    if not _MONEYISH.search(amount):
        return None  # "CTO for over 5 years"
    clause_start = max((c.end() for c in CLAUSES.finditer(t, 0, start)), default=0)
    clause_end = next((c.start() for c in CLAUSES.finditer(t, end)), len(t))
    if not any(m.other and clause_start <= m.start < clause_end for m in mentions):
        for mention in mentions:
            if clause_start <= mention.start < clause_end and not mention.tied:
                mention.other = True
                break
    return amount


def _board_decides(t: str) -> bool:
    """Whether the answer says the board approves: "I need board approval", "the board has to
    approve", "it goes to the board"; not "no board approval needed"."""
    for m in _BOARD.finditer(t):
        board = t.index("board", m.start())
        clause = max((c.end() for c in CLAUSES.finditer(t, 0, board)), default=0)
        if not _NEGATED.search(t, clause, board) and not _NOT_NEEDED.match(t, m.end()):
            return True
    return False
