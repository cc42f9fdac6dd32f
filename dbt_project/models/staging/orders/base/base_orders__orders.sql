{{ latest_deliveries(source('orders', 'orders'), ['order_id'], 'updated_at') }}
