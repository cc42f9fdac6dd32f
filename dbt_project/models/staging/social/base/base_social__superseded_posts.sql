{{ superseded_deliveries(source('social', 'posts'), ['post_id']) }}
