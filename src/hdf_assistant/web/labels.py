"""The interface's words, in French and English, and the example questions."""

from __future__ import annotations

from typing import Any

EXAMPLES = [
    "How many startups in Lille?",
    "Combien de startups sont référencées à Lille ?",
    "Où OVH a-t-il été créé ?",
    "Which research lab is part of EuraTechnologies?",
    "Quel est le plafond des aides pour les artisans ?",
]

LABELS: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "# hdf-assistant\nQuestions sur les documents régionaux ; chaque réponse cite ses sources.",
        "chat_tab": "Discussion", "docs_tab": "Documents", "settings": "Réglages (pour cette session)",
        "mode": "Mode de réponse", "retriever": "Recherche", "top_k": "Passages cités au plus",
        "sources": "Sources", "no_sources": "Les sources de la réponse s'afficheront ici.",
        "placeholder": "Posez une question sur les documents…", "examples": "Exemples",
        "upload": "Ajouter des documents (.pdf, .txt, .md, .html, .docx, images) : ils sont indexés aussitôt",
        "replace": "Remplacer un fichier du même nom",
        "rebuild": "Mettre à jour l'index (après un changement dans le dossier)",
        "empty": "Posez une question : le message est vide.", "abstained": "Les documents ne répondent pas",
        "related": "Passage le plus proche — ce n'est pas une réponse, mais il s'en rapproche",
        "open": "ouvrir", "page": "p.", "files": "Documents indexés",
        "conversations": "Conversations", "new_chat": "Nouvelle conversation", "rename": "Renommer",
        "delete": "Supprimer", "new_title": "Nouveau titre", "no_conversation": "Aucune conversation enregistrée.",
        "columns": ["fichier", "collection", "état", "pages", "passages", "indexé le"],
        "manifest": "**Index** : {files}, {chunks} — modèle `{model}` ({dim} dimensions), "
                    "passages de {size} caractères (recouvrement {overlap} phrase), construit le {built}",
        "no_file": "Aucun fichier choisi.", "added": "✅ {name} ajouté.",
        "indexing": "Indexation…", "up_to_date": "✅ Index à jour en {seconds} s : {documents}, {chunks}.",
        "added_files": "ajoutés", "updated_files": "modifiés", "removed_files": "retirés", "skipped": "ignoré",
        "renamed": "renommé (non ré-encodé)",
        "state_indexed": "indexé", "state_partial": "indexé en partie", "state_skipped": "ignoré",
        "state_pending": "pas encore indexé", "state_removed": "retiré du dossier, encore dans l'index",
        "ocr_pages": "OCR : {n} p.",
        "manage": "Supprimer ou remplacer un document", "document": "Document",
        "delete_doc": "Supprimer le document…", "replace_doc": "Remplacer par une nouvelle version…",
        "confirm": "Confirmer", "cancel": "Annuler",
        "confirm_delete": "Supprimer **{name}** du dossier et de l'index ? On ne pourra plus y trouver de réponse.",
        "confirm_replace": "Remplacer **{name}** par le contenu de {new} ({size} ko), puis réindexer ?",
        "deleted": "🗑️ {name} supprimé.", "replaced": "✅ {name} remplacé.", "cancelled": "Annulé : rien n'a changé.",
        "admins_only": "⛔ Seuls les administrateurs du corpus peuvent modifier les documents ou l'index.",
        "collection": "Collection", "all_collections": "Toutes mes collections",
        "choose_doc": "Choisissez d'abord un document dans la liste.",
        "wrong_type": "❌ {new} n'est pas un fichier {ext} comme {name}.",
        "gone": "❌ {name} n'est plus dans le dossier.",
        "copy": "Copier la référence", "copied": "Référence copiée", "more": "Lire la citation entière",
        "rejected_invalid": "nom de fichier invalide",
        "rejected_unsupported": "type de fichier non pris en charge (acceptés : {extensions})",
        "rejected_too_large": "plus gros que la limite de {max_mb} Mo", "rejected_empty": "fichier vide",
        "rejected_exists": "un fichier de ce nom existe déjà (cochez « Remplacer » pour l'écraser)",
    },
    "en": {
        "title": "# hdf-assistant\nQuestions about the regional documents; every answer cites its sources.",
        "chat_tab": "Chat", "docs_tab": "Documents", "settings": "Settings (this session)",
        "mode": "Answer mode", "retriever": "Retriever", "top_k": "Passages cited at most",
        "sources": "Sources", "no_sources": "The sources of the answer will appear here.",
        "placeholder": "Ask a question about the documents…", "examples": "Examples",
        "upload": "Add documents (.pdf, .txt, .md, .html, .docx, images): they are indexed at once",
        "replace": "Replace a file with the same name",
        "rebuild": "Refresh the index (after a change in the folder)",
        "empty": "Please ask a question: the message is empty.", "abstained": "The documents do not answer",
        "related": "Closest passage — not an answer, but related",
        "open": "open", "page": "p.", "files": "Indexed documents",
        "conversations": "Conversations", "new_chat": "New conversation", "rename": "Rename",
        "delete": "Delete", "new_title": "New title", "no_conversation": "No saved conversation.",
        "columns": ["file", "collection", "status", "pages", "passages", "indexed at"],
        "manifest": "**Index**: {files}, {chunks} — model `{model}` ({dim} dimensions), "
                    "passages of {size} characters ({overlap} sentence of overlap), built at {built}",
        "no_file": "No file chosen.", "added": "✅ {name} added.",
        "indexing": "Indexing…", "up_to_date": "✅ Index up to date in {seconds} s: {documents}, {chunks}.",
        "added_files": "added", "updated_files": "updated", "removed_files": "removed", "skipped": "skipped",
        "renamed": "renamed (not re-embedded)",
        "state_indexed": "indexed", "state_partial": "partly indexed", "state_skipped": "skipped",
        "state_pending": "not indexed yet", "state_removed": "removed from the folder, still in the index",
        "ocr_pages": "OCR: {n} p.",
        "manage": "Delete or replace a document", "document": "Document",
        "delete_doc": "Delete the document…", "replace_doc": "Replace with a new version…",
        "confirm": "Confirm", "cancel": "Cancel",
        "confirm_delete": "Delete **{name}** from the folder and the index? Questions will no longer find answers in it.",
        "confirm_replace": "Replace **{name}** with the content of {new} ({size} kB), then re-index?",
        "deleted": "🗑️ {name} deleted.", "replaced": "✅ {name} replaced.", "cancelled": "Cancelled: nothing changed.",
        "admins_only": "⛔ Only the corpus's admins may change the documents or the index.",
        "collection": "Collection", "all_collections": "All my collections",
        "choose_doc": "Choose a document in the list first.",
        "wrong_type": "❌ {new} is not a {ext} file like {name}.",
        "gone": "❌ {name} is no longer in the folder.",
        "copy": "Copy the reference", "copied": "Reference copied", "more": "Read the whole quote",
        "rejected_invalid": "invalid file name",
        "rejected_unsupported": "unsupported file type (accepted: {extensions})",
        "rejected_too_large": "larger than the limit of {max_mb} MB", "rejected_empty": "empty file",
        "rejected_exists": "a file with this name already exists (tick \"Replace\" to overwrite it)",
    },
}


def language_of(choice: str | None) -> str:
    """"fr" or "en" from the language radio's value."""
    return "en" if choice == "English" else "fr"
