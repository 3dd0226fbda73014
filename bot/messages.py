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
    "/nyhetsbrev – meld deg på nyhetsbrevet\n"
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
IN_NORWEGIAN = "Jeg svarer på norsk."
DID_YOU_MEAN = "Jeg er ikke helt sikker på hva du mener. Mente du …?"
EMPTY = "Skriv et spørsmål, så skal jeg svare så godt jeg kan."
NOT_TEXT = "Jeg forstår bare tekst. Skriv spørsmålet ditt med ord, så svarer jeg så godt jeg kan."
GREETING = (
    "Hei! Jeg svarer på spørsmål om Arbeiderpartiets distriktspolitikk. Skriv et spørsmål, eller "
    "velg et emne."
)
THANKS = "Bare hyggelig! Spør gjerne om mer, eller velg et emne."
UNKNOWN_TOPIC = "Det emnet finnes ikke (lenger). Her er emnene jeg kan svare på:"
START_UNKNOWN_TOPIC = "Det emnet finnes ikke (lenger)."
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
SHARE_UNKNOWN = "Jeg fant ikke noe emne som passer til «{topic}»."
SHARE_USAGE = "Skriv /del og et emne, for eksempel /del fergetakster. Emnene er:"

VOTE_IN_GROUP = "Du svarte «{vote}» på «{title}» i en gruppe. Det er bare du som ser dette."
BUTTON_AGREE = "Enig"
BUTTON_DISAGREE = "Uenig"
BUTTON_SHARE = "Del dette svaret"
BUTTON_SUBSCRIBE = "Ja, send meg nyhetsbrev"
BUTTON_MENU = "Alle emner"

NEWSLETTER_OFFER = (
    "Vil du ha nyhetsbrev fra oss? Trykk på knappen, så melder jeg deg på. Du kan melde deg av "
    "når du vil med /stopp."
)
STOP_PRIVATELY = "Det ordner jeg bare i en privat samtale: send /stopp til meg direkte."
FORGET_PRIVATELY = "Det ordner jeg bare i en privat samtale: send /slettmeg til meg direkte."
FORGET_IN_WORDS = (
    "Vil du at jeg skal slette alt som er lagret om deg (svarene dine på Enig/Uenig, påmeldingen "
    "til nyhetsbrevet og spørsmål jeg ikke kunne svare på)? Send /slettmeg, så gjør jeg det."
)
VOTE_IN_WORDS = (
    "Trykk på «Enig» eller «Uenig» under svaret, så blir stemmen din talt. Vil du se et emne "
    "igjen, velg det her:"
)
SUBSCRIBE_PRIVATELY = (
    "Nyhetsbrevet meldes du på personlig: send meg en privat melding og trykk på knappen der."
)

# --- the console chat (`distriktsbot chat`) only ---------------------------------------------
CONSOLE_QUIT = (
    "Skriv «avslutt» (eller «ha det», «exit», «quit») for å avslutte, eller trykk Ctrl+D."
)
CONSOLE_NOTHING_TO_CHOOSE = (
    "Det er ingenting å velge akkurat nå. Skriv et spørsmål, eller /emner for å se emnene."
)
CONSOLE_NO_SUCH_CHOICE = "Det tallet finnes ikke blant valgene. Velg et av tallene i klammer."
CONSOLE_BYE = "Ha det bra!"

# --- admins (bot/admin.py, bot/inbox.py, bot/statistics.py) ----------------------------------

# the admin commands, as the admins' command menu shows them
ADMIN_DESCRIBE_RELOAD = "Les inn kunnskapsfilene på nytt og test dem"
ADMIN_DESCRIBE_STATS = "Hva velgerne spør om og mener; «csv» gir en fil"
ADMIN_DESCRIBE_INBOX = "Spørsmål jeg ikke kunne svare på"
ADMIN_DESCRIBE_BROADCAST = "Send nyhetsbrev: /kringkast <tekst>"
ADMIN_START_NOTE = "Du er admin. Dine kommandoer:\n{commands}"
AREA_MENU_BUTTON = "· {title} ·"

RELOAD_FAILED = (
    "Kunnskapsfilene har feil, så jeg leste dem ikke inn. Jeg svarer fortsatt med den forrige "
    "kunnskapen. Rett feilene og send /oppdater igjen:"
)
RELOAD_PROBLEM = "• {problem}"
RELOAD_MORE_PROBLEMS = "… og {count} feil til (se `distriktsbot check`)."
RELOAD_DONE = "Kunnskapen er lest inn på nytt: {topics} emner i {files} fil(er)."
RELOAD_AUTO = "Kunnskapsfilene er endret, og jeg har lest dem inn selv."
RELOAD_AUTO_FAILED = (
    "Kunnskapsfilene er endret, men de har feil. Jeg svarer fortsatt med den forrige kunnskapen."
)
RELOAD_NO_CHANGE = "Ingen endringer i emnene."
RELOAD_ADDED = "Nye emner: {titles}."
RELOAD_REMOVED = "Fjernet: {titles}."
RELOAD_CHANGED = "Endret: {titles}."
RELOAD_EXAMPLES = "Nye eksempelspørsmål: {count}."
RELOAD_NOT_OURS = "Nye spørsmål merket «ikke vår politikk»: {count}."
SELFTEST_OK = "Selvtest: alle {total} eksempelspørsmål havner på sitt eget emne."
SELFTEST_MISSES = (
    "Selvtest: {passed} av {total} eksempelspørsmål havner på sitt eget emne. Disse havner feil "
    "(legg til nøkkelord, eller skriv eksempelet om):"
)
SELFTEST_MISS = "• «{example}» ({topic}) havner på {landed}"
SELFTEST_NOWHERE = "ingen emner"
SELFTEST_UNCERTAIN = (
    "{count} av dem får «Mente du …?» med riktig emne blant valgene, ikke et sikkert svar (et "
    "nøkkelord til emnet gjør svaret sikrere):"
)
SELFTEST_UNCERTAIN_ITEM = "• «{example}» ({topic}): velger mellom {choices}"
SELFTEST_WARNING = "⚠️ Advarsel: {warning}"

STATS_BAD_DAYS = "{days} dager går ikke: velg mellom {low} og {high}."
STATS_BAD_DATE = "«{value}» er ikke en dato som finnes (skriv ÅÅÅÅ-MM-DD)."
STATS_END_BEFORE_START = "Perioden slutter ({end}) før den begynner ({start})."
STATS_TOO_LONG = "En periode kan være høyst {high} dager."
STATS_USAGE = (
    "Skriv /statistikk for de siste {default} dagene, /statistikk {example_days} for de siste "
    "{example_days}, /statistikk {example_start} {example_end} for en periode, og legg til «csv» "
    "for en fil."
)
STATS_NO_DATABASE = (
    "Statistikken trenger databasen, og den svarer ikke akkurat nå. Prøv igjen om litt."
)
STATS_HEADER = "Statistikk {start}–{end} (i parentes: {prev_start}–{prev_end})"
STATS_QUESTIONS = (
    "Spørsmål: {questions} ({prev_questions}). Besvart: {matched} ({prev_matched}). "
    "Avvist: {declined} ({prev_declined})."
)
STATS_SUBSCRIBERS = "Abonnenter på nyhetsbrevet nå: {count}"
STATS_TOPIC = (
    "• {title}: vist {answered} ({prev_answered}), Enig {agree}, Uenig {disagree}, {share}"
)
STATS_SHARE = "{share} enig"
STATS_NO_VOTES = "ingen svar på Enig/Uenig"
STATS_CHART_CAPTION = "Enig/Uenig og hvor ofte emnet ble vist, {start}–{end}"
STATS_CHART_SHOWN = "Vist"
STATS_CHART_AGREE = "Enig"
STATS_CHART_DISAGREE = "Uenig"
STATS_CSV_CAPTION = "Statistikk per emne, {start}–{end}"
STATS_CHART_CAPTION = "Enig og uenig per emne, {start}–{end}"
STATS_CSV_HEADER = (
    "omrade",
    "emne_id",
    "emne",
    "vist",
    "besvart_sporsmal",
    "apnet_fra_knapp",
    "enig",
    "uenig",
    "andel_enig",
    "vist_forrige",
    "enig_forrige",
    "uenig_forrige",
)

INBOX_EMPTY = "Innboksen er tom: ingen ubesvarte spørsmål som venter."
INBOX_HEADER = "Ubesvarte spørsmål, mest spurt først ({groups}):"
INBOX_LINE = "{n}. «{text}» – {count}{similar}{ambiguous}"
INBOX_SIMILAR = ", {count}"
INBOX_AMBIGUOUS = " (fikk «Mente du …?»)"
INBOX_MORE = "… og {count} til."
INBOX_CARD = "«{text}»\nSpurt {count}, sist {last}{ambiguous}"
INBOX_GUESSES = "Mine beste gjetninger er knappene under. Hvor hører spørsmålet hjemme?"
INBOX_NO_GUESSES = "Jeg har ingen gode gjetninger. Velg et emne, eller merk det."
INBOX_PICK = "Velg emnet spørsmålet «{text}» hører til:"
INBOX_PICK_AREA = "Hvilket politikkområde er «{text}» ikke en del av?"
INBOX_GONE = "Den gruppen er allerede behandlet eller slettet."
INBOX_LEARNED = "La til «{text}» som eksempelspørsmål på «{title}» i {file}."
INBOX_LEARNED_ALREADY = "«{text}» stod allerede som eksempelspørsmål på «{title}»."
INBOX_LANDS = "Nå havner spørsmålet på «{title}», der du la det. ✔"
INBOX_LANDS_ELSEWHERE = (
    "Obs: spørsmålet havner fortsatt på {landed}, ikke på «{title}». Legg til et nøkkelord for "
    "emnet i {file}, og send /oppdater."
)
INBOX_LANDS_UNCERTAIN = (
    "Obs: spørsmålet får nå «Mente du …?» med valgene {choices}, ikke et sikkert svar. Vil du at "
    "jeg svarer direkte, legg til et nøkkelord for emnet i {file} og send /oppdater."
)
INBOX_NOT_OURS = "La til «{text}» under «ikke vår politikk» ({area}) i {file}."
INBOX_DECLINED_NOW = "Nå svarer jeg at dette ikke er noe jeg kan svare på. ✔"
INBOX_NOT_DECLINED = "Obs: spørsmålet havner fortsatt på {landed}."
# --- the admins' command line (`distriktsbot stats`, `unanswered`, `learn`, `broadcast`) -------
CLI_NO_DATABASE = (
    "Fant ingen database i {path}. Kjør kommandoen fra mappa boten kjører i, eller gi den samme "
    "konfigurasjonsfila som boten bruker (--config)."
)
CLI_NOT_A_DATE = "{option}: «{value}» er ikke en dato. Skriv den som ÅÅÅÅ-MM-DD."
CLI_SINCE_AFTER_UNTIL = "--since kan ikke være etter --until."
CLI_CANNOT_WRITE = "Kunne ikke skrive {file}: {reason}"
CLI_CANNOT_READ = "Kunne ikke lese {file}: {reason}"
CLI_NOT_UTF8 = "fila er ikke lagret som {encoding}"
CLI_UNANSWERED_LINE = "  [{key}] «{text}» – gjetninger: {guesses}"
CLI_NO_GUESSES = "ingen"
CLI_NOTHING_TO_RESUME = "Ingen nyhetsbrev er under utsending, så det er ingenting å fortsette."
CLI_NOT_SENT_ASK = "Ikke sendt: legg til --yes for å sende uten å bli spurt."
CLI_BROADCAST_BUSY = (
    "Et annet nyhetsbrev sendes nå. Vent til det er ferdig (eller fullfør det: distriktsbot "
    "broadcast --resume)."
)
CLI_NOT_SENT = "Ikke sendt ({state})."
STATS_CHART_WRITTEN = "Diagrammet er skrevet til {file}."
LEARN_UNKNOWN_TOPIC = "Det finnes ikke noe emne med id «{topic}».{hint} Emnene er: {known}."
INBOX_IGNORED = "Ignorert: «{text}»."
INBOX_NEXT = "Neste i innboksen:"
INBOX_REMAINING = "{count} igjen i innboksen."
BUTTON_OTHER_TOPIC = "Annet emne…"
BUTTON_NOT_OURS = "Ikke vår politikk"
BUTTON_IGNORE = "Ignorer"
BUTTON_BACK = "Tilbake"
BUTTON_INBOX = "Vis innboksen"

ERROR_REPORT = (
    "⚠️ Feil i boten: {error} i {where} (under {update}). Brukeren fikk en unnskyldning. "
    "Detaljer står i loggen."
)
ERROR_REPORT_SUPPRESSED = " {count} feil til siden forrige melding ble ikke meldt."

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
NEWSLETTER_IN_PROGRESS = "Dette nyhetsbrevet blir sendt nå: se framdriften over."
NEWSLETTER_REPLACED = (
    "Dette utkastet ble ikke sendt: det er erstattet av et nyere (eller avbrutt). Send /kringkast "
    "med teksten på nytt om du vil sende det."
)
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
NEWSLETTER_REPORT = "Rapport:"

# --- the knowledge files: what is wrong in them, for the admins who edit them ----------------
# (bot/knowledge.py, bot/yaml_errors.py, bot/matcher.py's keyword warnings; shown by /oppdater,
# /ubesvarte's write-back and `distriktsbot check`.) Each says what is wrong and what to do; the
# file, line and field are put in front by PROBLEM_AT….

PROBLEM_AT = "{file}, linje {line}, felt {field}: {message}"
PROBLEM_AT_LINE = "{file}, linje {line}: {message}"
PROBLEM_AT_FIELD = "{file}, felt {field}: {message}"
PROBLEM_IN_FILE = "{file}: {message}"
KNOWLEDGE_PROBLEMS = "{count} feil i kunnskapsfilene:"

KNOWLEDGE_MISSING = "finnes ikke. Sjekk stien til kunnskapsmappa (eller -fila)."
KNOWLEDGE_NO_FILES = (
    "her er ingen kunnskapsfiler (filer som slutter på .yaml eller .yml). Legg dem her, eller "
    "pek på riktig mappe."
)
FILE_TOO_LARGE = "fila er større enn {limit} MB. Er det riktig fil? En kunnskapsfil er mye mindre."
FILE_NOT_UTF8 = (
    "fila er ikke lagret som {encoding}-tekst (æøå blir da feil). Lagre den som {encoding} i "
    "redigeringsprogrammet."
)
FILE_UNREADABLE = (
    "fila kan ikke leses ({reason}). Sjekk at den finnes, og at boten har lov til å lese den."
)

YAML_INVALID = "ikke gyldig YAML (kolonne {column}): {advice}."
YAML_INVALID_NOWHERE = "ikke gyldig YAML: {advice}."
YAML_ADVICE = {
    "colon": (
        "her står «: » (kolon og mellomrom) der det ikke kan stå. Er det en del av en tekst, "
        'sett hele teksten i doble anførselstegn, for eksempel title: "Ferje: halv pris". '
        "Skal linja begynne et nytt felt, rykk den inn nøyaktig som feltene over (og sjekk at "
        "linja over har sitt «:»)"
    ),
    "tab": (
        "her står et tabulatortegn, men innrykk skal gjøres med mellomrom. Bytt tabulatoren ut "
        "med mellomrom (still gjerne inn redigeringsprogrammet så Tab-tasten setter inn "
        "mellomrom)"
    ),
    "open_quote": (
        "et anførselstegn (\" eller ') som åpnes her, blir aldri lukket. Sett det avsluttende "
        "anførselstegnet på slutten av teksten"
    ),
    "runaway_quote": (
        "anførselstegnet som åpnes her, lukkes ikke på samme linje (teksten fortsetter helt til "
        "linje {runs_to}). Sett det avsluttende anførselstegnet på slutten av denne teksten"
    ),
    "escape": (
        "inne i doble anførselstegn starter en omvendt skråstrek (\\) en spesialkode. Skriv "
        "\\\\ for én omvendt skråstrek, eller bruk enkle anførselstegn (') rundt teksten"
    ),
    "open_list": (
        "en liste i hakeparenteser som starter her, er ikke lukket med «]», eller et av "
        "elementene inneholder komma, kolon, «#» eller en parentes. Sett slike elementer i doble "
        "anførselstegn, eller skriv listen med ett element per linje («- element»)"
    ),
    "open_braces": (
        "en blokk i krøllparenteser som starter her, er ikke lukket med «}}», eller en av "
        "verdiene inneholder komma, kolon, «#» eller en parentes. Sett slike verdier i doble "
        "anførselstegn, eller skriv ett felt per linje"
    ),
    "missing_colon": (
        "en linje uten «felt:» der det skal stå et felt. Enten mangler et felt sitt kolon, eller "
        "en lang tekst fortsetter på en ny linje som ikke er rykket lenger inn enn feltet: rykk "
        "den inn, eller sett teksten i anførselstegn"
    ),
    "second_document": (
        "en linje med bare «---» starter et nytt dokument, men en fil skal ha ett politikkområde. "
        "Fjern «---»-linja"
    ),
    "special_start": (
        "en tekst kan ikke starte med «{char}» uten anførselstegn. Sett hele teksten i doble "
        "anførselstegn"
    ),
    "text_after_quote": (
        "her står det tekst etter et avsluttende anførselstegn. Sett hele teksten innenfor "
        "anførselstegnene (eller, hvis linja står feil, sjekk innrykket)"
    ),
    "indent": (
        "innrykket stemmer ikke. Feltene i en blokk må starte i nøyaktig samme kolonne, og hvert "
        "listeelement starter med «- » i samme kolonne som elementene over. Rykk inn med "
        "mellomrom, aldri med tabulator"
    ),
    "special_chars": (
        "en tekst som starter med et av tegnene {special} må stå i anførselstegn. Sett hele "
        "teksten i doble anførselstegn"
    ),
    "block_text": (
        "etter «|» eller «>» skal teksten starte på neste linje, rykket inn. Flytt teksten dit, "
        "eller sett den i anførselstegn i stedet"
    ),
    "other": (
        "sjekk innrykket (mellomrom, på linje med linjene over), og sett tekster som inneholder "
        "«: » eller « #», eller som starter med et av tegnene {special}, i doble anførselstegn"
    ),
}

ID_INVALID = (
    "«{value}» er ikke en gyldig id. En id kan bare ha små bokstaver a–z, tall og bindestrek "
    "(ikke æøå, store bokstaver eller mellomrom), fordi den brukes i lenker og lagrede stemmer."
)
ID_WRITE_INSTEAD = " Skriv «{suggestion}»."
ID_TOO_LONG = (
    "id-en er {length} tegn lang, men kan være høyst {limit} (den brukes i knapper og lenker). "
    "Gjør den kortere."
)
NOT_IN_SOURCE = (
    "«{sentence}» står ikke ordrett i partiets tekst ({source}). Alt boten sier om politikk skal "
    "være partiets egne ord: kopier setningen fra teksten, eller fjern den."
)
SOURCE_TEXT_MISSING = (
    "fant ikke partiets tekst «{path}». Skriv stien til teksten regnet fra denne filen (for "
    "eksempel ../docs/source/distriktspolitikk.txt), eller fjern feltet."
)
SOURCE_CORRECTIONS_FORMAT = (
    "skal være skrivefeil i teksten og rettelsen, én per linje: «feil: riktig». Sett ord med "
    "kolon i anførselstegn."
)
DUPLICATE_KEY = "feltet «{key}» står to ganger i samme blokk. Slett det ene."
UNKNOWN_KEY = "ukjent felt «{key}».{hint} Tillatte felt her: {allowed}."
UNKNOWN_KEY_HINT = " Mente du «{suggestion}»?"
MISSING_FIELD = "feltet «{key}» mangler. Legg det til."
MUST_BE_MAPPING = (
    "skal være en blokk med felt (felt: verdi, ett per linje), men her står {found}. "
    "Tillatte felt: {allowed}."
)
TEXT_WITH_COLON = (
    "teksten har et kolon i seg som gjør at den leses som «felt: verdi». Sett hele teksten i "
    'doble anførselstegn: "{text}"'
)
TEXT_NOT_MAPPING = (
    "skal være én tekst, men her står en blokk med felt («felt: verdi»). Skriv én tekst her; "
    "har den «: » i seg, sett hele teksten i doble anførselstegn."
)
TEXT_NOT_LIST = (
    "skal være én tekst, men her står en liste. Skriv én tekst, uten «- » foran og uten [ ] rundt."
)
TEXT_NOT_PLAIN = (
    "skal være tekst, men «{written}» leses som et tall, ja/nei eller en dato. Sett det i "
    'anførselstegn: "{written}".'
)
MUST_BE_LIST = (
    "skal være en liste, men her står {found}. Skriv ett element per linje med «- » foran, "
    "eller [a, b] på én linje."
)
TEXT_EMPTY = "er tomt. Skriv en tekst her."
LIST_EMPTY = "listen er tom. Legg til minst ett element."
TOPICS_NOT_A_LIST = (
    "skal være en liste med emner (hvert emne starter med «- id: …»), men her står {found}."
)
TOPICS_EMPTY = "her er ingen emner. Legg til minst ett (se README)."
BAD_DATE = (
    "skal være en dato som {day}, en måned som {month} eller et år som {year}, men her står "
    "«{value}». Rett datoen, eller fjern linja."
)
AREA_ID_TAKEN = (
    "område-id-en «{id}» er også brukt i {other}, linje {line}. Gi et av områdene en annen id."
)
TOPIC_ID_TAKEN = (
    "emne-id-en «{id}» er allerede brukt (i {other}, linje {line}). Gi et av emnene en annen id."
)
RELATED_ITSELF = "emnet viser til seg selv. Fjern «{id}» fra related."
RELATED_UNKNOWN = "emnet «{id}» finnes ikke.{hint} Rett id-en, eller fjern den fra related."
# what the checker says it found instead (in MUST_BE_… above)
FOUND_NOTHING = "ingenting"
FOUND_YES_NO = "ja/nei-verdien {value}"
FOUND_NUMBER = "tallet {value}"
FOUND_TEXT = "en tekst"
FOUND_LIST = "en liste"
FOUND_MAPPING = "«felt: verdi»"
FOUND_DATE = "datoen {value}"
FOUND_OTHER = "en verdi av typen {kind}"

# `distriktsbot check` and `distriktsbot learn`: the self-test and the warnings, one per line
SELFTEST_LINE_MISSES = (
    "Disse eksempelspørsmålene havner på feil emne (legg til nøkkelord til emnet, eller skriv "
    "eksempelet om):"
)
SELFTEST_LINE_MISS = "  {topic}: «{example}» havner på {landed} (treff {score})"
SELFTEST_LINE_WARNING = "  advarsel: {warning}"
SELFTEST_LINE_UNCERTAIN = (
    "Disse får «Mente du …?» med riktig emne blant valgene, ikke et sikkert svar (et nøkkelord til "
    "emnet gjør svaret sikrere):"
)
SELFTEST_LINE_UNCERTAIN_ITEM = "  {topic}: «{example}» velger mellom {choices}"
SELFTEST_LINE_SUMMARY = (
    "{topics} emner i {count} fil(er) ({files}); {passed} av {total} eksempelspørsmål havner på "
    "sitt eget emne"
)
EXAMPLE_CONFLICT = (
    "{topic}: «{example}» står både som eksempel på emnet og under out_of_scope.examples "
    "({file}). Da trekker de hver sin vei: fjern det ene."
)
KEYWORD_COLLISION = (
    "{topic}: nøkkelordet «{keyword}» står også under out_of_scope.{kind} som «{cue}» ({file}). "
    "Da trekker de hver sin vei: fjern det ene."
)

# the write-back (/ubesvarte's buttons, `distriktsbot learn`): why a file was not changed
WRITE_INVALID = "Jeg endret ikke fila: endringen ville gitt feil i kunnskapen:"
WRITE_BROKEN = "Jeg endret ikke {file}: fila har feil slik den står nå. Rett dem først:"
WRITE_NOT_KNOWLEDGE = "{file} er ikke en kunnskapsfil (den har ikke area: og topics: øverst)."
WRITE_UNREADABLE = "{file} kan ikke leses. Sjekk at den finnes, og at boten har lov til å lese den."
WRITE_NO_WORDS = "Spørsmålet har ingen ord, så det kan ikke bli et eksempel."
WRITE_UNKNOWN_TOPIC = "Emnet «{id}» finnes ikke."
WRITE_TOPIC_GONE = "Emnet «{id}» står ikke (lenger) i {file}. Send /oppdater og prøv igjen."
WRITE_UNKNOWN_AREA = "Området «{id}» finnes ikke."


def plural(count: int, one: str, many: str) -> str:
    """«1 gang», «2 ganger»."""
    return f"{count} {one if count == 1 else many}"
