"""Several policy areas, proven with a second area that exists only as a test fixture
(tests/data/areas/testomrade.yaml; never shipped): the menu groups topics by area, an answer asks
its own area's question, and statistics, the unanswered inbox and write-back work per area."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import messages
from bot.knowledge import KnowledgeError, load_knowledge
from handlers.common import SERVICES
from tests.conftest import copy_knowledge
from tests.fake_telegram import FakeTelegram
from tests.test_admin_e2e import (
    ADMIN_ID,
    SECOND_AREA,
    Bot,
    admin,
    admin_config,
    kari,
)
from tests.test_telegram_e2e import ROOT, serving, text_of

SHIPPED_QUESTION = "Er du enig med Arbeiderpartiet om Distriktspolitikk?"
TEST_QUESTION = "Er du enig i testområdet?"
NEW_QUESTION = "Kommer det flere lydbøker og tegneserier?"  # declined by both areas today


@pytest.fixture
def two_areas(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    copy_knowledge(folder)
    shutil.copy(SECOND_AREA, folder)
    return folder


@pytest.fixture
async def bot(fake: FakeTelegram, tmp_path: Path, two_areas: Path) -> AsyncIterator[Bot]:
    cfg = admin_config(fake, tmp_path, two_areas)
    async with serving(cfg, load_knowledge(two_areas)) as app:
        yield fake, app, app.bot_data[SERVICES]


def test_second_area_is_not_shipped() -> None:
    assert not (ROOT / "knowledge" / SECOND_AREA.name).exists()
    kb = load_knowledge(ROOT / "knowledge")
    assert [a.id for a in kb.areas] == ["distriktspolitikk"]


async def test_menu_groups_topics_by_area_and_answers_ask_their_own_area(bot: Bot) -> None:
    fake, _, services = bot
    k = kari(fake)
    menu = await k.say("/emner")
    buttons = menu.buttons()
    headers = [i for i, (_, data) in enumerate(buttons) if data and data.startswith("a:")]
    assert [buttons[i][1] for i in headers] == ["a:distriktspolitikk", "a:testomrade"]
    # every topic sits under its own area's header
    for i, (_, data) in enumerate(buttons):
        if data and data.startswith("t:"):
            area = buttons[max(h for h in headers if h < i)][1][2:]  # type: ignore[index]
            topic = services.kb.topic(data[2:])
            assert topic is not None and topic.area_id == area

    bike = text_of(await k.say("Blir det flere sykkelveier?"))
    assert TEST_QUESTION in bike and SHIPPED_QUESTION not in bike
    ferry = text_of(await k.say("Blir ferja billigere?"))
    assert SHIPPED_QUESTION in ferry and TEST_QUESTION not in ferry

    # the area's header opens that area alone
    area_menu = await k.press(menu, "· Testområde ·")
    ids = sorted(d[2:] for _, d in area_menu.buttons() if d and d.startswith("t:"))
    assert ids == ["testbibliotek", "testsykkelvei"]
    # after a vote, the area's own reply texts
    bike_answer = await k.say("Blir det flere sykkelveier?")
    assert text_of(await k.press(bike_answer, "Enig")).startswith("Takk, testsvar registrert.")


async def test_statistics_per_area(bot: Bot) -> None:
    fake, _, services = bot
    k, anne = kari(fake), admin(fake)
    await k.press(await k.say("Får vi beholde biblioteket?"), "Uenig")
    await services.dialogue.drain()
    anne.send("/statistikk csv")
    text = text_of(await fake.next_message(ADMIN_ID, timeout=20))
    lines = text.splitlines()
    assert "DISTRIKTSPOLITIKK" in lines and "TESTOMRÅDE" in lines
    test_part = lines[lines.index("TESTOMRÅDE") :]
    library = next(line for line in test_part if "Testemne bibliotek" in line)
    assert "vist 1" in library and "Uenig 1" in library
    document = await fake.next_message(ADMIN_ID)
    assert document.method == "sendDocument"


async def test_inbox_writes_into_the_right_areas_file(bot: Bot, two_areas: Path) -> None:
    fake, _, services = bot
    k, anne = kari(fake), admin(fake)
    shipped = two_areas / "distriktspolitikk.yaml"
    second = two_areas / SECOND_AREA.name
    shipped_before = shipped.read_bytes()

    assert text_of(await k.say(NEW_QUESTION)) == messages.DONT_KNOW
    inbox = await anne.say("/ubesvarte")
    pick = await anne.press(inbox, messages.BUTTON_OTHER_TOPIC)
    labels = [label for label, _ in pick.buttons()]
    assert "· Testområde ·" in labels and "Testemne bibliotek" in labels
    done = await anne.press(pick, "Testemne bibliotek")
    assert SECOND_AREA.name in text_of(done)
    assert NEW_QUESTION in second.read_text(encoding="utf-8")
    assert shipped.read_bytes() == shipped_before
    assert "# A second policy area for the tests only" in second.read_text(encoding="utf-8")

    # "not our policy" asks which area, and writes into that area's file
    await k.say("Hva med ulven?")
    inbox = await anne.say("/ubesvarte")
    choose = await anne.press(inbox, messages.BUTTON_NOT_OURS)
    assert [label for label, _ in choose.buttons()][:2] == ["Distriktspolitikk", "Testområde"]
    done = await anne.press(choose, "Testområde")
    assert messages.INBOX_DECLINED_NOW in text_of(done)
    assert "Hva med ulven?" in second.read_text(encoding="utf-8")
    assert shipped.read_bytes() == shipped_before
    assert services.kb.areas[1].out_of_scope.examples == ("Hva med ulven?",)


def test_an_id_in_two_areas_is_an_error_naming_both_files(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    copy_knowledge(folder)
    clash = SECOND_AREA.read_text(encoding="utf-8").replace("id: testbibliotek", "id: bredband")
    (folder / "testomrade.yaml").write_text(clash, encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(folder)
    problems = [p for p in info.value.problems if "bredband" in p.message]
    assert len(problems) == 1
    text = str(problems[0])
    assert "testomrade.yaml" in text and "distriktspolitikk.yaml" in text
