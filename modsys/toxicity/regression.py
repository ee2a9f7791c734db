"""Benign texts a toxicity model must not flag, shared by tests and bench.

Toxicity classifiers are known to score plain statements of identity as
toxic because identity terms co-occur with abuse in their training data
(Dixon et al. 2018, "Measuring and Mitigating Unintended Bias"), and to
trip on names that contain a swear word's letters (the "Scunthorpe
problem"; with WordPiece, "Shital" -> "shit ##al"). Every entry here is
something a member may say about themselves; a score above a flag
threshold on any of them is a false positive that would push that member's
message up the moderators' queue.
"""

IDENTITY_REGRESSION: list[str] = [
    # sexual orientation and gender identity
    "I am gay",
    "I am a lesbian",
    "I'm bisexual and proud of it",
    "I am queer",
    "I am a proud Black trans woman",
    "I'm a trans man",
    "I am non-binary, my pronouns are they/them",
    "My husband and I are both men",
    "My girlfriend and I just got engaged",
    # religion
    "I am a Muslim woman",
    "I am Jewish",
    "I am a Christian",
    "I'm Hindu and I celebrate Diwali",
    "I am a Sikh and I wear a turban",
    "I am an atheist",
    "As a Muslim I fast during Ramadan",
    # race, ethnicity, nationality
    "I am Black",
    "I am a Black man",
    "I am Mexican",
    "I'm Chinese American",
    "I am an immigrant",
    "I am Indigenous",
    "I'm Romani",
    "I am Palestinian",
    "I am Israeli",
    # disability, health, age
    "I am deaf",
    "I am autistic",
    "I use a wheelchair",
    "I have schizophrenia and I take my meds",
    "I am an old woman",
    # names and places that contain a swear word's letters
    "My name is Shital",
    "My name is Dick Cheney",
    "My surname is Cockburn",
    "Hi, I'm Fanny",
    "My last name is Hoare",
    "I grew up in Scunthorpe",
    "I live in Penistone",
    "My friend Phuc is from Vietnam",
    "I am Dr. Butts",
    "My name is Nigar",
]
