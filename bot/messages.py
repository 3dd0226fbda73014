"""Every user-facing text the bot composes itself, in Norwegian bokmål.

Policy content (pledges, facts, the agree question and the thank-you texts) is never here: it
comes from the knowledge files. These texts only explain what the bot is and can do.
"""

from __future__ import annotations

WELCOME = (
    "Hei! Jeg svarer på spørsmål om Arbeiderpartiets distriktspolitikk: kommuneøkonomi, "
    "eldreomsorg, fergepriser, bredbånd, lading av elbil, næringsliv, landbruk, grønn industri, "
    "offentlige tjenester og statlige arbeidsplasser i hele landet.\n"
    "Skriv et spørsmål med dine egne ord, eller velg et emne nedenfor."
)

HELP = (
    "Skriv et spørsmål med dine egne ord, for eksempel «Blir ferja billigere?» eller «Kva med "
    "breibandet på bygda?», så svarer jeg med det Arbeiderpartiet sier. Etter svaret kan du si "
    "om du er enig eller uenig.\n\n"
    "Kommandoer:\n"
    "/emner – alle emnene jeg kan svare på\n"
    "/del <emne> – en tekst du kan videresende\n"
    "/stopp – meld deg av nyhetsbrevet\n"
    "/slettmeg – slett alt som er lagret om deg\n\n"
    "Personvern: svaret ditt på Enig/Uenig lagres uten navn og uten Telegram-id, under en "
    "pseudonym nøkkel, og telles én gang per emne. /slettmeg sletter alt."
)

MENU = "Dette kan du spørre meg om. Velg et emne:"
DONT_KNOW = (
    "Det vet jeg dessverre ikke. Jeg kan bare svare på hva Arbeiderpartiet sier om "
    "distriktspolitikk, og det spørsmålet fant jeg ikke noe svar på. Kanskje et av disse emnene "
    "er det du lurer på?"
)
DID_YOU_MEAN = "Jeg er ikke helt sikker på hva du mener. Mente du …?"
EMPTY = "Skriv et spørsmål, så skal jeg svare så godt jeg kan."
NOT_TEXT = "Jeg forstår bare tekst. Skriv spørsmålet ditt med ord, så svarer jeg så godt jeg kan."
GREETING = (
    "Hei! Jeg svarer på spørsmål om Arbeiderpartiets distriktspolitikk. Skriv et spørsmål, eller "
    "velg et emne."
)
THANKS = "Bare hyggelig! Spør gjerne om mer, eller velg et emne."
UNKNOWN_TOPIC = "Det emnet finnes ikke (lenger). Her er emnene jeg kan svare på:"
UNKNOWN_BUTTON = "Den knappen forstod jeg ikke. Her er emnene jeg kan svare på:"
SOMETHING_WENT_WRONG = "Beklager, noe gikk galt hos meg. Prøv igjen om litt."
UNKNOWN_COMMAND = "Den kommandoen kjenner jeg ikke. Skriv /hjelp for å se hva jeg kan."
STORAGE_DOWN = (
    "Beklager, jeg klarte ikke å lagre dette akkurat nå. Prøv igjen om litt – ingenting av det "
    "du har svart før, er borte."
)

VOTE_REPEATED_AGREE = "Du har allerede svart Enig på dette. Svaret ditt telles bare én gang."
VOTE_REPEATED_DISAGREE = "Du har allerede svart Uenig på dette. Svaret ditt telles bare én gang."
VOTE_CHANGED_AGREE = "Svaret ditt er endret til Enig."
VOTE_CHANGED_DISAGREE = "Svaret ditt er endret til Uenig."

ALREADY_SUBSCRIBED = "Du får allerede nyhetsbrev fra oss. Skriv /stopp for å melde deg av."
UNSUBSCRIBED = "Du er meldt av nyhetsbrevet og får ikke flere brev fra oss."
NOT_SUBSCRIBED = "Du er ikke påmeldt nyhetsbrevet."
FORGOTTEN = (
    "Ferdig. Jeg har slettet alt som var lagret om deg: {votes} svar på Enig/Uenig, "
    "{subscription} og {questions} spørsmål jeg ikke kunne svare på."
)
FORGOTTEN_SUBSCRIBED = "påmeldingen til nyhetsbrevet"
FORGOTTEN_NOT_SUBSCRIBED = "ingen påmelding til nyhetsbrev"
NOTHING_TO_FORGET = "Det var ikke lagret noe om deg. Nå er det i alle fall helt tomt."

SHARE_INTRO = "Videresend gjerne denne teksten:"
SHARE_LINK = "Spør distriktsbot selv: {link}"
ASK_YOURSELF = "Spør boten selv"
SHARE_USAGE = "Skriv /del og et emne, for eksempel /del fergetakster. Emnene er:"

BUTTON_AGREE = "Enig"
BUTTON_DISAGREE = "Uenig"
BUTTON_SHARE = "Del dette svaret"
BUTTON_SUBSCRIBE = "Ja, send meg nyhetsbrev"
BUTTON_MENU = "Alle emner"

SUBSCRIBE_PRIVATELY = (
    "Nyhetsbrevet meldes du på personlig: send meg en privat melding og trykk på knappen der."
)

# --- issue 9a: hardening ----------------------------------------------------------------------

VOTE_SUPERSEDED = (
    "Du trykket på nytt rett etterpå, og det er det siste svaret ditt som gjelder. Svaret ditt "
    "telles bare én gang."
)
VOTE_SENT_PRIVATELY = "Takk! Svaret ditt er lagret. Jeg har sendt deg resten i en privat melding."
VOTE_STORED_QUIETLY = "Takk! Svaret ditt er lagret (det vises ikke i gruppen)."
VOTE_NOT_STORED_SHORT = "Beklager, jeg klarte ikke å lagre svaret akkurat nå. Prøv igjen om litt."
SLOW_DOWN = (
    "Du sender meg veldig mange meldinger nå. Vent litt, så svarer jeg igjen – "
    "meldinger som kommer før det, hopper jeg over."
)
