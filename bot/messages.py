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

# --- the newsletter (/kringkast; admins only) ------------------------------------------------

# Every newsletter ends with this (HTML; the command is clickable in Telegram).
NEWSLETTER_FOOTER = "<i>Vil du ikke ha flere nyhetsbrev? Skriv /stopp.</i>"
NEWSLETTER_USAGE = (
    "Skriv /kringkast og teksten til nyhetsbrevet i samme melding, for eksempel:\n"
    "/kringkast <b>Valgkamp!</b> Vi står på stand på torget lørdag.\n\n"
    "Du kan bruke Telegrams egen formatering, eller HTML: <b>fet</b>, <i>kursiv</i>, <u>, <s>, "
    '<a href="https://…">lenke</a>, <code>, <pre>, <blockquote>, <tg-spoiler>. '
    "Du får se brevet før noe blir sendt."
)
NEWSLETTER_INVALID = "Nyhetsbrevet kan ikke sendes slik det er. Dette må rettes:"
NEWSLETTER_RESUBMIT = "Rett opp og send /kringkast med teksten på nytt."
NEWSLETTER_PROBLEM_TAG = (
    "«<{tag}>» (linje {line}) kan ikke brukes i Telegram. Tillatt: <b>, <i>, <u>, <s>, "
    '<a href="…">, <code>, <pre>, <blockquote>, <tg-spoiler>. Linjeskift skrives som vanlige '
    "linjeskift, ikke <br>."
)
NEWSLETTER_PROBLEM_ATTRIBUTE = "«{attribute}» er ikke tillatt i «<{tag}>» (linje {line})."
NEWSLETTER_PROBLEM_LINK = (
    'Lenken på linje {line} mangler en gyldig adresse: skriv <a href="https://…">tekst</a>.'
)
NEWSLETTER_PROBLEM_UNCLOSED = "«<{tag}>» på linje {line} er ikke lukket: legg til «</{tag}>»."
NEWSLETTER_PROBLEM_UNEXPECTED_END = "«</{tag}>» på linje {line} lukker noe som ikke er åpnet."
NEWSLETTER_PROBLEM_MISMATCH = (
    "«</{found}>» på linje {line} kom før «</{expected}>»: lukk taggene i motsatt rekkefølge "
    "av den de ble åpnet i."
)
NEWSLETTER_PROBLEM_COMMENT = "HTML-kommentarer og <!…> kan ikke brukes (linje {line})."
NEWSLETTER_PROBLEM_EMPTY = "Nyhetsbrevet er tomt."
NEWSLETTER_PROBLEM_TOO_LONG = (
    "Nyhetsbrevet er {length} tegn langt; Telegram tillater {limit} (med avmeldingslinja). "
    "Kort det ned med {over} tegn."
)
NEWSLETTER_PREVIEW = "☝️ Slik ser nyhetsbrevet ut for dem som får det."
NEWSLETTER_RECIPIENTS = "Det går til {count} {noun}."
NEWSLETTER_NO_RECIPIENTS = "Ingen abonnerer på nyhetsbrevet ennå, så det er ingen å sende til."
BUTTON_NEWSLETTER_SEND = "Send"
BUTTON_NEWSLETTER_TEST = "Send test til meg"
BUTTON_NEWSLETTER_CANCEL = "Avbryt"
BUTTON_NEWSLETTER_RESEND = "Send på nytt til {count} ukjente"
NEWSLETTER_DISCARDED = "Avbrutt. Nyhetsbrevet ble ikke sendt."
NEWSLETTER_BUSY = (
    "Et annet nyhetsbrev blir sendt akkurat nå. Vent til det er ferdig (eller avbryt det), og "
    "trykk Send igjen."
)
NEWSLETTER_NOT_FOUND = "Fant ikke det nyhetsbrevet."
NEWSLETTER_ALREADY = "Dette nyhetsbrevet er allerede sendt eller avbrutt."
NEWSLETTER_NOTHING_TO_RESEND = "Det er ingen ukjente mottakere å sende på nytt til."
NEWSLETTER_SENDING = "Sender nyhetsbrevet …"
NEWSLETTER_STOPPING = "Stopper sendingen … De som ikke har fått brevet ennå, får det ikke."
NEWSLETTER_PAUSED = "Telegram ba oss vente litt; sendingen fortsetter av seg selv."
NEWSLETTER_DONE = "Nyhetsbrevet er sendt."
NEWSLETTER_STOPPED = "Sendingen ble avbrutt."
NEWSLETTER_COUNT_SENT = "Sendt: {sent} av {total}"
NEWSLETTER_COUNT_LEFT = "Igjen: {left}"
NEWSLETTER_COUNT_BLOCKED = "Blokkert (avmeldt): {blocked}"
NEWSLETTER_COUNT_FAILED = "Feilet: {failed}"
NEWSLETTER_COUNT_CANCELLED = "Ikke sendt (avbrutt): {cancelled}"
NEWSLETTER_COUNT_UNKNOWN = "Ukjent: {unknown}"
NEWSLETTER_UNKNOWN_EXPLAINED = (
    "«Ukjent» er de som ble sendt til akkurat da sendingen stanset (omstart eller krasj): "
    "kanskje fikk de brevet, kanskje ikke. De får det ikke på nytt av seg selv, for da kunne noen "
    "fått det to ganger. Trykk knappen under hvis du vil sende til dem likevel."
)
NEWSLETTER_REPORT = "Rapport for nyhetsbrevet:"
