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
        "upload": "Ajouter des documents (.pdf, .txt, .md, .html, .docx, images)", "add": "Ajouter au corpus",
        "replace": "Remplacer un fichier du même nom", "rebuild": "Reconstruire l'index",
        "empty": "Posez une question : le message est vide.", "abstained": "Les documents ne répondent pas",
        "open": "ouvrir", "page": "p.", "files": "Documents indexés",
        "conversations": "Conversations", "new_chat": "Nouvelle conversation", "rename": "Renommer",
        "delete": "Supprimer", "new_title": "Nouveau titre", "no_conversation": "Aucune conversation enregistrée.",
        "columns": ["fichier", "pages", "passages", "indexé le"],
        "manifest": "**Index** : {files} documents, {chunks} passages — modèle `{model}` ({dim} dimensions), "
                    "passages de {size} caractères (recouvrement {overlap} phrase), construit le {built}",
        "no_file": "Aucun fichier choisi.", "added": "✅ {name} ajouté. Reconstruisez l'index pour l'utiliser.",
        "indexing": "Indexation…", "up_to_date": "✅ Index à jour en {seconds} s : {documents} documents, "
                                                  "{chunks} passages.",
        "added_files": "ajoutés", "updated_files": "modifiés", "removed_files": "retirés", "skipped": "ignoré",
    },
    "en": {
        "title": "# hdf-assistant\nQuestions about the regional documents; every answer cites its sources.",
        "chat_tab": "Chat", "docs_tab": "Documents", "settings": "Settings (this session)",
        "mode": "Answer mode", "retriever": "Retriever", "top_k": "Passages cited at most",
        "sources": "Sources", "no_sources": "The sources of the answer will appear here.",
        "placeholder": "Ask a question about the documents…", "examples": "Examples",
        "upload": "Add documents (.pdf, .txt, .md, .html, .docx, images)", "add": "Add to the corpus",
        "replace": "Replace a file with the same name", "rebuild": "Rebuild the index",
        "empty": "Please ask a question: the message is empty.", "abstained": "The documents do not answer",
        "open": "open", "page": "p.", "files": "Indexed documents",
        "conversations": "Conversations", "new_chat": "New conversation", "rename": "Rename",
        "delete": "Delete", "new_title": "New title", "no_conversation": "No saved conversation.",
        "columns": ["file", "pages", "passages", "indexed at"],
        "manifest": "**Index**: {files} documents, {chunks} passages — model `{model}` ({dim} dimensions), "
                    "passages of {size} characters ({overlap} sentence of overlap), built at {built}",
        "no_file": "No file chosen.", "added": "✅ {name} added. Rebuild the index to use it.",
        "indexing": "Indexing…", "up_to_date": "✅ Index up to date in {seconds} s: {documents} documents, "
                                               "{chunks} passages.",
        "added_files": "added", "updated_files": "updated", "removed_files": "removed", "skipped": "skipped",
    },
}


def language_of(choice: str | None) -> str:
    """"fr" or "en" from the language radio's value."""
    return "en" if choice == "English" else "fr"
