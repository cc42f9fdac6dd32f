{{ latest_delivered(source('social', 'posts'), ref('base_social__superseded_posts')) }}
