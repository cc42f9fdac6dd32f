{{ latest_deliveries(source('service', 'tickets'), ['ticket_id'], 'updated_at') }}
