"""The interface's words, in French and English, and the example questions."""

from __future__ import annotations

EXAMPLES = [
    "How many startups in Lille?",
    "Combien de startups sont référencées à Lille ?",
    "Où OVH a-t-il été créé ?",
    "Which research lab is part of EuraTechnologies?",
    "Quel est le plafond des aides pour les artisans ?",
]

LABELS = {
    "fr": {
        "title": "# hdf-assistant\nQuestions sur les documents régionaux ; chaque réponse cite ses sources.",
        "chat_tab": "Discussion", "docs_tab": "Documents", "settings": "Réglages (pour cette session)",
        "mode": "Mode de réponse", "retriever": "Recherche", "top_k": "Passages cités au plus",
        "sources": "Sources", "no_sources": "Les sources de la réponse s'afficheront ici.",
        "placeholder": "Posez une question sur les documents…", "examples": "Exemples",
        "upload": "Ajouter des documents (.pdf, .txt, .md, .html, .docx)", "add": "Ajouter au corpus",
        "replace": "Remplacer un fichier du même nom", "rebuild": "Reconstruire l'index",
        "empty": "Posez une question : le message est vide.", "abstained": "Les documents ne répondent pas",
        "open": "ouvrir", "page": "p.", "files": "Documents indexés",
        "conversations": "Conversations", "new_chat": "Nouvelle conversation", "rename": "Renommer",
        "delete": "Supprimer", "new_title": "Nouveau titre", "no_conversation": "Aucune conversation enregistrée.",
    },
    "en": {
        "title": "# hdf-assistant\nQuestions about the regional documents; every answer cites its sources.",
        "chat_tab": "Chat", "docs_tab": "Documents", "settings": "Settings (this session)",
        "mode": "Answer mode", "retriever": "Retriever", "top_k": "Passages cited at most",
        "sources": "Sources", "no_sources": "The sources of the answer will appear here.",
        "placeholder": "Ask a question about the documents…", "examples": "Examples",
        "upload": "Add documents (.pdf, .txt, .md, .html, .docx)", "add": "Add to the corpus",
        "replace": "Replace a file with the same name", "rebuild": "Rebuild the index",
        "empty": "Please ask a question: the message is empty.", "abstained": "The documents do not answer",
        "open": "open", "page": "p.", "files": "Indexed documents",
        "conversations": "Conversations", "new_chat": "New conversation", "rename": "Rename",
        "delete": "Delete", "new_title": "New title", "no_conversation": "No saved conversation.",
    },
}


def language_of(choice: str | None) -> str:
    """"fr" or "en" from the language radio's value."""
    return "en" if choice == "English" else "fr"
