//! MQTT: the booth's status (retained), availability (with a last will), events, commands and
//! Home Assistant discovery, under `postbooth/<booth_id>/`.

pub mod settings;
