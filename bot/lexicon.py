"""Word lists the matcher needs that are not policy: function words and small talk.

All entries are in folded form (see `bot.normalize.fold`): lower case, æ -> ae, ø -> o, å -> a.
"""

from __future__ import annotations

# Function words, question words and words that say nothing about a topic (bokmål, nynorsk,
# common dialect spellings, English). They are dropped before matching.
STOPWORDS = frozenset(
    """
    a ad alle allerede alt altsa andre annen annet at av bare begge ble bli blir blitt bort bra
    da dei deim deira deires dem den denne der dere deres derfor det dette di din disse dit ditt
    du e ei ein eit eitt eller ellers elles en enn er et ett etter eg ej jeg je i ikke ikkje itj
    ikkj inn inni ja jo kan kanskje kor korleis kva kvar kvi kvifor kven korfor kossen kordan
    koss ka kem kest hva hvem hvor hvorfor hvordan hvilke hvilken hvis hvilket her hit ho hun
    han hans hennar hennes henne hadde har ha hatt hos litt lite mange mer meir mest mi min mine
    mitt med meg mykje mye mot mykje na naar nar nei no noe noen noko nokon nokre nokon nar ny
    og ogsa om oss over pa sa se seg selv si sia sin sine sitt sjol skal skulle slik som sin
    som til tror uten utan var vare vart ved vi vil ville vere vore vaere vert verte ved vaart
    hans hennes sine sitt kun bare jo vel nok da so au og ogso eller enn mens fordi dersom
    hvis nar om at gjor gjore gjer gjere gjort gjorde gjer tenke tenker synes syns meiner mener
    mene meine tykkje synest sporsmal sporsmaal lure lurer lurar undrer vite veit vet fortelle
    fortell forklar forklare si sei sier seier ap arbeiderpartiet arbeidarpartiet partiet
    arbeiderparti arbeidarparti apen dokker dokk dakk dokkar dokkan politikk politikken
    politikken politikar politiker politikere stortinget regjeringa regjeringen regjering
    norge noreg landet heile hele the a an and or of to in on for is are was be do does
    did what when where why how who which will would can could should you your we our i me my
    it its this that these those there about with from at not no yes please plan plans
    policy party labour labor norway norwegian going get got have has any some more much many
    they them their us if then than so just also very really think want need
    gar ga gikk gatt gjekk bor burde bore fler flere fleire helt heilt hver kvar kver hvert
    kvart alltid aldri ofte nokre noen nokon enno ennå endelig faktisk egentlig eigentleg visst
    vist liksom altsa uansett ganske veldig svaert svart kjempe masse mykkje mkje mye my lenger
    lengre lenge igjen att tilbake ut opp ned fram frem borte inne oppe nede
    fa far fikk fatt faa ta tar tok tatt komme kommer kom kome kjem blitt vorte vart sjolv selv
    sjol folk gang ganger dag dager ar aret arene tid tida tiden hos kor korleis sann sant
    bare berre berr berge kun ikkje inte itte ittj ente enten noe noko nokka nokke no nu na
    hadde hatt vert vere vera vore hadd matte ma maa kunne kunna kan kann
    ska te ae dae nan sae mae daem dem dae bi bli itj baerre berre nakka nakke nokka noka nakk
    sanne sann sanna slike slikt slik sidan sia likevel akkurat altfor gitt sagt nettopp gjerne
    stadig heller knapt egen eigen eige virkelig verkeleg la ser betyr vaert vori fra fraa fra
    under sta gjera gjaer gjorr gjor gjere haer hair va ke ka kva kor ko einaste eneste
    """.split()
)

# Small talk: greetings, thanks, goodbyes, acknowledgements and questions about the bot itself.
SMALLTALK = frozenset(
    """
    hei heia heisan heisann hallo halla hallais hei hoi hey hi hello hiya yo morn moro morna
    god goddag godmorgen morgen dag kveld kvell natt ettermiddag hade hadet snakkes bye goodbye
    ciao takk takker tak tusen mange thanks thank thx ty tenks ok okei okay greit fint flott
    supert super kult nice bra topp perfekt skjonner skjonn forstar forsta aha jaha jasa mhm
    hmm robot bot chatbot ai maskin menneske human heter name navn hjelp help start meny
    hyggelig fin dag dagen helg helga kos koselig lykke hjelpa hjelpen svar svaret svara
    """.split()
)

# A sentence that asks even without a question mark ("jeg lurer på …", "I wonder …"): in a long
# message, its words weigh more than the story's.
ASKING = frozenset(
    """
    lurer lurar lure undrer undres spor sporsmal sporsmaal wonder wondering question
    """.split()
)

# Cues of a policy question: who is asked (the party, the state, "dere") and what about (plans,
# fairness, priorities). They offset practical-information cues (`out_of_scope.practical` in the
# knowledge files), so "Hvorfor er ferja så dyr, hva vil dere gjøre?" stays a policy question.
# Single folded words, or two folded words in a row.
POLICY = frozenset(
    """
    dere dokker dokk dokkar dykk dakk dakker ap arbeiderpartiet arbeidarpartiet partiet
    regjeringa regjeringen regjering staten stortinget politikk politikken politikere
    politikarar partiprogram valgprogram lover lofte lofter lova satse satser satsar
    prioritere prioriterer plan planen planer planar rettferdig urettferdig
    you your government party policy politics ihr euch partei regierung politik
    """.split()
) | frozenset(
    [
        "vil dere",
        "vil de",
        "skal dere",
        "gjor dere",
        "gjer de",
        "blir det",
        "kommer det",
        "kjem det",
        "hvorfor ma",
        "kvifor ma",
    ]
)

# Words that ask for a figure or a date ("når", "hvor mange", "how much"): the answer then leads
# with the fact that answers it. Single folded words, or two folded words in a row.
FIGURE_QUESTION = frozenset(
    """
    nar naar when wann kiedy innen dato datoen tall tallet prosent mbit mbps koster kostar
    cost costs
    """.split()
) | frozenset(
    [
        "hvor mye",
        "hvor mykje",
        "kor mye",
        "kor mykje",
        "hvor mange",
        "kor mange",
        "hvor fort",
        "kor fort",
        "hvor raskt",
        "hvor billig",
        "hvor stor",
        "kor stor",
        "hvilket ar",
        "kva ar",
        "how much",
        "how many",
        "how fast",
        "what year",
        "by when",
    ]
)

# Function words typical of one language and not of Norwegian (lower case, not folded), to tell a
# question in another language: it is answered in Norwegian, with a line saying so.
LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    "no": frozenset(
        """
        og ikke ikkje er det hva kva jeg eg på til som vil kan dere dokker har ei et å hvordan
        korleis hvorfor kvifor blir bli med meg oss vi vår når kor hvor mye mykje også skal ska
        eller men av fra frå noe noko hos sånn slik
        """.split()
    ),
    "en": frozenset(
        """
        the and what will you your is are of to do does how why when my we our there about more
        with would should this that have has it they get people please which where
        """.split()
    ),
    "sv": frozenset(
        """
        och inte vad är för jag hur varför också mycket någon några här där bör måste ni dom
        bara vill kvar hemma tryggt
        """.split()
    ),
    "da": frozenset(
        """
        hvad af jer jeres mig dig sig blive bliver gøre meget lidt hvornår nogen noget vores
        """.split()
    ),
    "de": frozenset(
        """
        und ist nicht ich wir ihr für mit auf wird werden auch wie was warum wann mehr gibt haben
        sind das die zu von zum im ihre ihrer
        """.split()
    ),
    "pl": frozenset(
        """
        nie jest czy się że jak dla mój moja moje mam może będzie są tak przez oraz więcej gdzie
        kiedy dlaczego chcecie wasza waszej co żeby we
        """.split()
    ),
    "fr": frozenset(
        """
        le les des est je vous pour dans que qui une pas au aux nous votre quelle quel sur avec ce
        cette
        """.split()
    ),
    "es": frozenset(
        """
        el los las que y es por para una qué cómo del al con más se muy hay está están
        """.split()
    ),
    "lt": frozenset("ir kad kaip ką jūsų mano yra ar daugiau kodėl kur kai".split()),
}

# Cues that a question is asked on behalf of many ("blir det …", "får vi …", "hvorfor skal …",
# "hva med …"), or to the party or the government in another language: weaker than POLICY (they
# do not offset practical cues), but a question with none of them and of POLICY must be mostly
# about a topic to be answered (see `Settings.cover_min` in bot/matcher.py). Folded words; single
# words, or two words in a row.
COLLECTIVE = frozenset(
    """
    dokke dokkan dokka dakk dakker dakkar dykkar dokkar dokker dokk dykk
    rettferdig urettferdig rettferdighet fremtid framtid fremtiden framtida
    sentralisering sentraliseringa sentraliseringen distriktene distrikta distriktane bygdene
    ni ert jeres jer ihr ihre euch sie partei partij partia partiet partija partido parti
    regeringen regierung rzad gobierno gouvernement government vyriausybe staat staten state
    wasza wasze waszej jusu chcecie zrobicie zrobi ustedes vous you your
    deres dokkers dykkar dokkas dakkas
    """.split()
) | frozenset(
    [
        # "blir det …", "kommer det …", "skal det …" and their dialect forms
        *(
            f"{verb} {it}"
            for verb in (
                "blir bli bi blire vert verte vil kommer kommere kjem kjaem kjem kjeme skal ska "
                "far faer kan"
            ).split()
            for it in "det dae de d da di".split()
        ),
        # "får vi", "kan vi", "skal folk": the many who live there
        *(
            f"{verb} {who}"
            for verb in "far faer kan skal ska blir bi vil".split()
            for who in "vi me folk alle ungdommen bygda distriktene oss".split()
        ),
        # why and who-pays: "hvorfor skal", "hvem skal betale"
        *(
            f"{why} {verb}"
            for why in "hvorfor kvifor korfor koffor kofor hvem kven kem kaem kem".split()
            for verb in "skal ska ma far er har".split()
        ),
        # "hva med …", "hva skjer med …"
        *(f"{what} {verb}" for what in "hva ka kva va ke".split() for verb in "med skjer".split()),
        "noen gang",
        "nokon gong",
        "nokon gang",
        "i framtida",
        "i fremtiden",
        "her ute",
        "her nord",
        "her oppe",
        "ute i",
        "i byen",
        "i byane",
        "i byene",
        "vi far",
        "me far",
        "vi faer",
        "what about",
        "how about",
        "will there",
        "will you",
        "are you",
        "is there",
        "going to",
        "wird es",
        "werden sie",
        "czy bedzie",
        "czy beda",
    ]
)

# Words a question starts with (folded): a message that starts so asks even without a question
# mark ("når kjem utbetalinga frå nav").
QUESTION_STARTS = frozenset(
    """
    hva hvor hvordan hvorfor hvem hvilken hvilke hvilket hvis nar kor korleis kvifor kva ka kem
    kven kvar koffor korfor kordan kossen koss assen hass va ke kan er e har far faer blir bli
    bi skal ska vil ma bor finnes fins gar when what where how why who which can is are do does
    will should could
    """.split()
)


# Whole messages that are a command in words, as people type them on a phone ("stopp", "meld meg
# av", "slett meg", "enig"): answered as that command (or with where to find it) instead of being
# matched, and never logged as an unanswered question. Keys are folded (bot.normalize.fold);
# values: a command of bot.dialogue.COMMANDS ("start": who the bot is), "stemme" (a vote typed
# instead of pressed) or "om-nyhetsbrev" (the newsletter named: offered, never subscribed).


def _phrases(text: str, command: str) -> dict[str, str]:
    return {" ".join(p.split()): command for p in text.split("|")}


COMMANDS_IN_WORDS: dict[str, str] = {
    **_phrases(
        """stopp|stop|stopp nyhetsbrev|stopp nyhetsbrevet|stopp nyheitsbrev|meld meg av|meld av
        |meld meg ut|meld meg av nyhetsbrevet|avmeld|avmelding|avslutt nyhetsbrev
        |avslutt nyhetsbrevet|ikke send mer|ikkje send meir|slutt a sende|unsubscribe
        |jeg vil ikke ha nyhetsbrev|jeg vil ikke ha nyhetsbrevet|ingen flere nyhetsbrev""",
        "stopp",
    ),
    **_phrases(
        """meld meg pa|meld meg pa nyhetsbrevet|abonner|abonnere|jeg vil ha nyhetsbrev
        |jeg vil ha nyhetsbrevet|send meg nyhetsbrev|send meg nyhetsbrevet|subscribe""",
        "nyhetsbrev",
    ),
    # the word alone is not consent: the newsletter is offered with its button
    **_phrases("nyhetsbrev|nyhetsbrevet|nyheitsbrev|newsletter", "om-nyhetsbrev"),
    **_phrases(
        """slett meg|slettmeg|slett alt|slett alt om meg|slett dataene mine|slett mine data
        |slett opplysningene mine|glem meg|delete me|delete my data
        |forget me""",
        "slettmeg",
    ),
    **_phrases(
        """enig|uenig|ueinig|einig|jeg er enig|jeg er uenig|eg er einig|eg er ueinig|helt enig
        |helt uenig|ja|nei|agree|disagree|i agree|i disagree""",
        "stemme",
    ),
    **_phrases(
        """emner|emne|meny|menyen|tema|temaer|hva kan du|hva kan du svare pa|ka kan du
        |kva kan du|hva kan jeg sporre om|hva kan jeg sporre deg om|hva vet du|hva vet du om
        |hva kan du hjelpe med|topics|menu""",
        "emner",
    ),
    **_phrases("hjelp|help|hjelpa|hjelpe meg|hjelp meg|hva gjor du", "hjelp"),
    **_phrases(
        """hvem er du|kven er du|ka e du|hva er du|hva er dette|hva er denne boten
        |hvem har laget deg|hvilket parti er du|hvilket parti er dette|hva er dere for et parti
        |who are you|what are you|snakker du engelsk|do you speak english""",
        "start",
    ),
}
