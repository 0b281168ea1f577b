"""GS1 identifiers: Tag Data Standard EPC URIs (`tds`) and GS1 Digital Link (`digital_link`)."""
