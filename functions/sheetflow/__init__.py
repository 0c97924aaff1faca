"""sheetflow: spreadsheet processing as serverless event functions."""
