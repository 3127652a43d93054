from app.store import Attachment, Store


def test_conversations_messages_attachments_survive_reopen(tmp_path):
    store = Store(tmp_path / "c.sqlite3")
    cid = store.create_conversation("Trip plans")
    att = Attachment("notes.txt", "/x/notes.txt", "text", "pack a towel", ((0, 12, 1, 1),), 4)
    store.add_message(cid, "user", "what should I pack?", attachments=(att,))
    reply = store.add_message(cid, "assistant", "", model="m", complete=False)
    store.update_message(reply, "A tow")  # a partial write, as during streaming
    store.close()  # as if the app died here

    store = Store(tmp_path / "c.sqlite3")
    msgs = store.messages(cid)
    assert [m.content for m in msgs] == ["what should I pack?", "A tow"]
    assert msgs[0].attachments[0].text == "pack a towel" and msgs[0].attachments[0].spans == ((0, 12, 1, 1),)
    assert not msgs[1].complete and msgs[1].model == "m"
    store.update_message(reply, "A towel.", stats={"decode_tps": 40.0}, finish_reason="stop", complete=True)
    assert store.messages(cid)[1].stats == {"decode_tps": 40.0}


def test_search_rename_delete(tmp_path):
    store = Store(tmp_path / "c.sqlite3")
    a = store.create_conversation("Trip plans")
    b = store.create_conversation("Recipes")
    store.add_message(b, "user", "how long to boil 100% of an egg")
    assert [c.id for c in store.conversations("trip")] == [a]
    assert [c.id for c in store.conversations("100%")] == [b]
    assert store.conversations("50%") == []
    store.rename_conversation(a, "Holiday")
    assert store.conversation(a).title == "Holiday"
    store.delete_conversation(b)
    assert [c.id for c in store.conversations()] == [a]
    assert store.messages(b) == []


def test_a_reply_committed_between_the_two_reads_shows_its_new_text(tmp_path):
    """The writer drops a pending update only after committing it; ``messages`` must not read the
    rows before the commit and the pending updates after it (CI saw a branch lose its prefix)."""
    store = Store(tmp_path / "c.sqlite3")
    cid = store.create_conversation("Rainbow")
    store.add_message(cid, "user", "colours?")
    reply = store.add_message(cid, "assistant", "", model="m", complete=False)
    store.update_message(reply, "Red, orange")
    read_rows = store._path

    def rows_then_commit(conversation_id):  # the writer's commit lands right after the rows are read
        rows = read_rows(conversation_id)
        assert store.writer.flush(10.0)
        return rows

    store._path = rows_then_commit
    assert store.messages(cid)[-1].content == "Red, orange"
    store.close()
